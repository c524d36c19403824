import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ApiClient } from "./api/client";
import type { AppNotification } from "./api/types";
import { browserSessionStore, type SessionStore } from "./auth/tokens";
import { resolveWsUrl, type AppConfig } from "./config";
import { LiveConnection, notificationFromMessage, notificationText, type LiveMessage, type LiveStatus, type SocketLike } from "./live/socket";

export interface Toast {
  id: number;
  title: string;
  body?: string;
  tone: "info" | "success" | "error";
}

interface AppState {
  config: AppConfig;
  api: ApiClient;
  address: string | null;
  /** Set when the session ended on its own (refresh refused), so the sign-in page can say so. */
  sessionExpired: boolean;
  signedIn: (address: string) => void;
  signOut: () => Promise<void>;
  liveStatus: LiveStatus;
  notifications: AppNotification[];
  setNotifications: (items: AppNotification[]) => void;
  /** Subscribes to a live topic; returns the unsubscribe function. */
  subscribe: (topic: string, handler: (msg: LiveMessage) => void) => () => void;
  toasts: Toast[];
  pushToast: (toast: Omit<Toast, "id">) => void;
  dismissToast: (id: number) => void;
}

const Ctx = createContext<AppState | null>(null);

export function useApp(): AppState {
  const value = useContext(Ctx);
  if (!value) throw new Error("useApp outside <AppProvider>");
  return value;
}

export function AppProvider(props: {
  config: AppConfig;
  children: ReactNode;
  store?: SessionStore;
  fetchImpl?: typeof fetch;
  createSocket?: (url: string) => SocketLike;
}) {
  const store = useMemo(() => props.store ?? browserSessionStore(), [props.store]);
  const [address, setAddress] = useState<string | null>(() => store.load()?.address ?? null);
  const [sessionExpired, setSessionExpired] = useState(false);
  const api = useMemo(
    () =>
      new ApiClient({
        baseUrl: props.config.apiBaseUrl,
        store,
        fetchImpl: props.fetchImpl,
        onSessionExpired: () => {
          setAddress(null);
          setSessionExpired(true);
        },
      }),
    [props.config.apiBaseUrl, store, props.fetchImpl],
  );
  const [liveStatus, setLiveStatus] = useState<LiveStatus>("idle");
  const [notifications, setNotificationsState] = useState<AppNotification[]>([]);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const handlers = useRef(new Map<string, Set<(msg: LiveMessage) => void>>());
  const live = useRef<LiveConnection | null>(null);
  const toastSeq = useRef(0);

  const dismissToast = useCallback((id: number) => setToasts((ts) => ts.filter((t) => t.id !== id)), []);
  const pushToast = useCallback(
    (toast: Omit<Toast, "id">) => {
      const id = ++toastSeq.current;
      // At most three at once (a phone has room for little more); confirmations go quickly.
      setToasts((ts) => [...ts.slice(-2), { ...toast, id }]);
      window.setTimeout(() => dismissToast(id), toast.tone === "error" ? 12_000 : toast.tone === "success" ? 4_000 : 10_000);
    },
    [dismissToast],
  );

  const setNotifications = useCallback((items: AppNotification[]) => {
    // Merge: a live notification may arrive before the list request returns.
    setNotificationsState((current) => {
      const byId = new Map<number, AppNotification>();
      for (const n of [...items, ...current]) if (!byId.has(n.id)) byId.set(n.id, n);
      return [...byId.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    });
  }, []);

  useEffect(() => {
    if (!address) return;
    const connection = new LiveConnection({
      url: resolveWsUrl(props.config, window.location.origin),
      getToken: () => api.accessToken(),
      onStatus: (s) => setLiveStatus(s),
      createSocket: props.createSocket,
      onMessage: (msg) => {
        const n = notificationFromMessage(msg);
        if (n) {
          setNotificationsState((current) => (current.some((c) => c.id === n.id) ? current : [n, ...current]));
          pushToast({ title: n.title, body: notificationText(n.body) || undefined, tone: "info" });
        } else if (msg.type === "transaction_prepared") {
          const d = msg.data as { summary?: string };
          pushToast({ title: "A rule prepared a transaction for you to sign", body: d.summary, tone: "info" });
        } else if (msg.type === "transaction_status") {
          const d = msg.data as { status?: string; summary?: string };
          if (d.status === "confirmed" || d.status === "failed" || d.status === "replaced") {
            pushToast({ title: `Transaction ${d.status}`, body: d.summary, tone: d.status === "confirmed" ? "success" : "error" });
          }
        }
        for (const [topic, set] of handlers.current) if (topic === msg.topic) for (const h of set) h(msg);
      },
    });
    connection.subscribe("notifications");
    for (const topic of handlers.current.keys()) connection.subscribe(topic);
    live.current = connection;
    connection.start();
    return () => {
      connection.stop();
      live.current = null;
      setLiveStatus("idle");
    };
  }, [address, api, props.config, props.createSocket, pushToast]);

  const subscribe = useCallback((topic: string, handler: (msg: LiveMessage) => void) => {
    let set = handlers.current.get(topic);
    if (!set) {
      set = new Set();
      handlers.current.set(topic, set);
      live.current?.subscribe(topic);
    }
    set.add(handler);
    return () => {
      const s = handlers.current.get(topic);
      if (!s) return;
      s.delete(handler);
      if (!s.size) {
        handlers.current.delete(topic);
        if (topic !== "notifications") live.current?.unsubscribe(topic);
      }
    };
  }, []);

  const signOut = useCallback(async () => {
    await api.logout();
    setAddress(null);
    setNotificationsState([]);
  }, [api]);

  const signedIn = useCallback((next: string) => {
    setSessionExpired(false);
    setAddress(next);
  }, []);

  const value: AppState = {
    config: props.config,
    api,
    address,
    sessionExpired,
    signedIn,
    signOut,
    liveStatus,
    notifications,
    setNotifications,
    subscribe,
    toasts,
    pushToast,
    dismissToast,
  };
  return <Ctx.Provider value={value}>{props.children}</Ctx.Provider>;
}
