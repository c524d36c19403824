import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "../App";
import { memorySessionStore, type StoredSession } from "../auth/tokens";
import type { SocketLike } from "../live/socket";

const CONFIG = { apiBaseUrl: "/api", wsUrl: "ws://test/ws", walletConnectProjectId: "", environment: "", devSignIn: false };
const SESSION: StoredSession = { accessToken: "a", refreshToken: "r", accessExpiresAt: Date.now() + 3_600_000, address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };
const silentSocket = (): SocketLike => ({ readyState: 0, onopen: null, onclose: null, onerror: null, onmessage: null, send: () => undefined, close: () => undefined });

const DESTINATIONS = [
  { id: 1, kind: "email", label: "alice@example.com", target: "alice@example.com", is_default: true, verified: true, state: "active", disabled_reason: null, created_at: "2026-11-24T12:00:00Z" },
  { id: 2, kind: "telegram", label: "phone", target: "42", is_default: true, verified: true, state: "disabled", disabled_reason: "Forbidden: bot was blocked by the user", created_at: "2026-11-24T12:00:00Z" },
];
const DELIVERIES = [
  {
    id: 9, destination_id: 2, rule_id: 3, severity: "critical", subject: "[Tidewatch] Health factor 1.083 is below 1.10", status: "dead", last_error: "Forbidden: bot was blocked by the user", created_at: "2026-11-24T12:00:00Z",
    attempts: [{ attempt: 1, outcome: "failed", response_code: 403, response: "{}", latency_ms: 41.2, at: "2026-11-24T12:00:01Z" }],
  },
];

function fakeApi() {
  const calls: Array<{ method: string; path: string; body: unknown }> = [];
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://test");
    const method = init?.method ?? "GET";
    const path = url.pathname.replace(/^\/api/, "");
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, path, body });
    const json = (status: number, value: unknown) =>
      new Response(JSON.stringify(value), { status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" } });
    if (path === "/alerts/destinations" && method === "GET") return json(200, DESTINATIONS);
    if (path === "/alerts/destinations" && method === "POST")
      return json(422, { type: "https://tidewatch.dev/problems/validation-error", title: "Validation failed", status: 422, detail: "address: not a valid email address", errors: [{ field: "address", message: "not a valid email address" }] });
    if (path === "/alerts/deliveries") return json(200, DELIVERIES);
    if (path === "/alerts/preferences" && method === "GET") return json(200, { timezone: "UTC", quiet_start: null, quiet_end: null, quiet_min_severity: "critical" });
    if (path === "/alerts/preferences" && method === "PUT") return json(200, body);
    if (path === "/alerts/destinations/1/test") return json(202, { deliveries: [10] });
    if (path === "/alerts/telegram/codes") return json(201, { code: "ABCDEFGHJK", link: "https://t.me/tidewatch_bot?start=ABCDEFGHJK", expires_at: "2026-11-24T12:10:00Z" });
    return json(404, { type: "x/not-found", title: "Not found", status: 404 });
  });
  return { fetchImpl: fetchImpl as unknown as typeof fetch, calls };
}

afterEach(() => {
  cleanup();
  window.location.hash = "";
});

describe("notification settings", () => {
  it("shows destinations with their state, the delivery log, and acts on them", async () => {
    // Given an active email and a Telegram chat whose bot was blocked
    window.location.hash = "#/settings/notifications";
    const { fetchImpl, calls } = fakeApi();
    render(<App config={CONFIG} store={memorySessionStore(SESSION)} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    const table = await screen.findByTestId("destinations");
    // Then each shows its verification state, the provider's reason for the disabled one
    expect(within(table).getByText("active")).toBeInTheDocument();
    expect(within(table).getByText(/bot was blocked by the user/)).toBeInTheDocument();
    // And the delivery log shows the attempt with its provider answer and latency
    expect(within(screen.getByTestId("delivery-log")).getByText(/attempt 1 failed \(403\) 41 ms/)).toBeInTheDocument();
    const user = userEvent.setup();
    // When the user sends a test to the email
    await user.click(screen.getByRole("button", { name: "Send test" }));
    expect(await screen.findByText("Test alert queued for alice@example.com.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST" && c.path === "/alerts/destinations/1/test")).toBe(true);
    // And adds an invalid address: the server's problem is shown at the field
    await user.type(screen.getByLabelText("Email address"), "nope");
    await user.click(screen.getByRole("button", { name: "Add" }));
    expect(await screen.findByText(/not a valid email address/)).toBeInTheDocument();
    expect(screen.getByLabelText("Email address")).toHaveAttribute("aria-invalid", "true");
    // And asks for a Telegram code
    await user.click(screen.getByRole("button", { name: "Link Telegram" }));
    expect(await screen.findByTestId("telegram-code")).toHaveTextContent("/start ABCDEFGHJK");
    // And sets quiet hours
    await user.type(screen.getByLabelText("From"), "22:00");
    await user.type(screen.getByLabelText("To"), "07:00");
    await user.click(screen.getByRole("button", { name: "Save quiet hours" }));
    expect(await screen.findByText("Quiet hours saved.")).toBeInTheDocument();
    const put = calls.find((c) => c.method === "PUT" && c.path === "/alerts/preferences");
    expect(put?.body).toEqual({ timezone: "UTC", quiet_start: "22:00", quiet_end: "07:00", quiet_min_severity: "critical" });
  });
});
