/**
 * The alert routes of the API (`/alerts/*`), on top of the shared client's `request`: one place that
 * knows their paths and shapes, so the settings page stays about what the user sees.
 */
import type { ApiClient } from "../api/client";

export type DestinationKind = "email" | "telegram" | "discord" | "slack" | "webpush";
export type DestinationState = "unverified" | "active" | "unsubscribed" | "disabled" | "suppressed";

export interface Destination {
  id: number;
  kind: DestinationKind;
  label: string;
  target: string;
  is_default: boolean;
  verified: boolean;
  state: DestinationState;
  disabled_reason: string | null;
  created_at: string;
}

export interface DeliveryAttempt {
  attempt: number;
  outcome: string;
  response_code: number | null;
  response: string | null;
  latency_ms: number | null;
  at: string;
}

export interface Delivery {
  id: number;
  destination_id: number;
  rule_id: number | null;
  severity: string;
  subject: string;
  status: string;
  attempts: DeliveryAttempt[];
  last_error: string | null;
  created_at: string;
}

export interface QuietHours {
  timezone: string;
  quiet_start: string | null;
  quiet_end: string | null;
  quiet_min_severity: "info" | "warning" | "critical";
}

export interface TelegramCode {
  code: string;
  link: string | null;
  expires_at: string;
}

export type NewDestination =
  | { kind: "email"; address: string }
  | { kind: "discord" | "slack"; url: string }
  | { kind: "webpush"; endpoint: string; keys: { p256dh: string; auth: string } };

export function alertsApi(api: ApiClient) {
  return {
    destinations: () => api.request<Destination[]>("/alerts/destinations"),
    create: (body: NewDestination) => api.request<Destination>("/alerts/destinations", { method: "POST", body }),
    update: (id: number, body: { label?: string; is_default?: boolean }) =>
      api.request<Destination>(`/alerts/destinations/${id}`, { method: "PATCH", body }),
    remove: (id: number) => api.request<void>(`/alerts/destinations/${id}`, { method: "DELETE" }),
    resubscribe: (id: number) => api.request<Destination>(`/alerts/destinations/${id}/resubscribe`, { method: "POST" }),
    test: (id: number) => api.request<{ deliveries: number[] }>(`/alerts/destinations/${id}/test`, { method: "POST" }),
    telegramCode: () => api.request<TelegramCode>("/alerts/telegram/codes", { method: "POST", body: {} }),
    preferences: () => api.request<QuietHours>("/alerts/preferences"),
    setPreferences: (body: QuietHours) => api.request<QuietHours>("/alerts/preferences", { method: "PUT", body }),
    deliveries: () => api.request<Delivery[]>("/alerts/deliveries", { query: { limit: 50 } }),
    pushKey: () => api.request<{ public_key: string | null }>("/alerts/push/key"),
  };
}

function base64UrlToBytes(value: string): Uint8Array {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** Register the alerts service worker and subscribe this browser with the server's VAPID key. */
export async function subscribeThisBrowser(publicKey: string): Promise<NewDestination> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error("This browser does not support push notifications.");
  if ((await Notification.requestPermission()) !== "granted") throw new Error("Notifications are blocked for this site.");
  const registration = await navigator.serviceWorker.register("./alerts-sw.js");
  const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) as BufferSource });
  const json = subscription.toJSON();
  return { kind: "webpush", endpoint: String(json.endpoint), keys: { p256dh: String(json.keys?.p256dh), auth: String(json.keys?.auth) } };
}
