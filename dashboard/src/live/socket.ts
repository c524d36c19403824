/**
 * A WebSocket that stays connected: exponential backoff with jitter, re-subscribes every topic
 * after each reconnect, and asks for a fresh access token each time (tokens expire while a tab
 * sleeps). Browsers cannot set headers on a WebSocket, so the token goes in the query string.
 */
import type { AppNotification } from "../api/types";

export type LiveStatus = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface LiveMessage {
  topic: string;
  type: string;
  data: unknown;
}

export interface SocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface LiveConnectionOptions {
  url: string;
  getToken: () => Promise<string | null>;
  onMessage: (message: LiveMessage) => void;
  onStatus?: (status: LiveStatus, attempt: number) => void;
  createSocket?: (url: string) => SocketLike;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

const OPEN = 1;

/** Delay before reconnect attempt `attempt` (1-based): full jitter over an exponential cap. */
export function backoffDelay(attempt: number, random: () => number, baseMs = 1000, maxMs = 30_000): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: spreads reconnect storms without ever retrying instantly.
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Control frames: subscription acknowledgements and errors, never data for a topic. */
const CONTROL = new Set(["subscribed", "unsubscribed", "error"]);

/** The topic a server message belongs to, from its `type` (the API's messages carry no topic). */
function topicOf(obj: Record<string, unknown>, type: string): string {
  if (CONTROL.has(type)) return "_control";
  if (typeof obj.topic === "string" && obj.topic) return obj.topic;
  if (type === "notification" || type.startsWith("transaction")) return "notifications";
  if (type === "market") return "markets";
  if (type === "portfolio" && obj.portfolio_id != null) return `portfolio:${obj.portfolio_id}`;
  return "";
}

/**
 * Parses a server frame. The API sends flat objects keyed by `type`: {type:"notification", id,
 * title, body}, {type:"transaction_prepared", ...}, {type:"market", market_id, data},
 * {type:"portfolio", portfolio_id, data}, plus {type:"subscribed"|"error", ...} control frames.
 */
export function parseLiveMessage(raw: unknown): LiveMessage | null {
  if (typeof raw !== "string") return null;
  let obj: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return null;
    obj = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const type = typeof obj.type === "string" ? obj.type : typeof obj.event === "string" ? (obj.event as string) : "";
  const topic = topicOf(obj, type);
  if (!topic && !type) return null;
  // Flat messages are their own data; market/portfolio updates nest theirs under `data`.
  const data = "data" in obj && type !== "notification" ? obj.data : obj;
  return { topic, type, data };
}

export function notificationFromMessage(msg: LiveMessage): AppNotification | null {
  if (msg.topic !== "notifications" && msg.type !== "notification") return null;
  if (msg.type && msg.type !== "notification") return null;
  const raw = (msg.data ?? {}) as Partial<AppNotification> & { notification?: AppNotification; data?: Partial<AppNotification> };
  const n = raw.notification ?? (typeof raw.title === "string" ? raw : (raw.data ?? raw));
  if (typeof n.title !== "string") return null;
  return {
    id: typeof n.id === "number" ? n.id : Date.now(),
    kind: n.kind ?? "rule_fired",
    title: n.title,
    body: n.body ?? null,
    rule_id: n.rule_id ?? null,
    created_at: n.created_at ?? new Date().toISOString(),
    read_at: n.read_at ?? null,
  };
}

export class LiveConnection {
  private socket: SocketLike | null = null;
  private readonly topics = new Set<string>();
  private attempt = 0;
  private timer: unknown = null;
  private stopped = true;
  private status: LiveStatus = "idle";
  private readonly o: Required<Omit<LiveConnectionOptions, "onStatus">> & Pick<LiveConnectionOptions, "onStatus">;

  constructor(options: LiveConnectionOptions) {
    this.o = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      random: Math.random,
      baseDelayMs: 1000,
      maxDelayMs: 30_000,
      // Explicit `undefined`s (e.g. an optional prop passed through) must not erase the defaults.
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as LiveConnectionOptions),
    };
  }

  get currentStatus(): LiveStatus {
    return this.status;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.close(1000, "bye");
    }
    this.setStatus("closed");
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
    this.sendAction("subscribe", topic);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.sendAction("unsubscribe", topic);
  }

  private sendAction(action: string, topic: string): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify({ action, topic }));
  }

  private setStatus(status: LiveStatus): void {
    this.status = status;
    this.o.onStatus?.(status, this.attempt);
  }

  private async connect(): Promise<void> {
    this.setStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    let token: string | null;
    try {
      token = await this.o.getToken();
    } catch {
      token = null;
    }
    if (this.stopped) return;
    if (!token) {
      // Signed out (or offline during refresh): try later rather than connect anonymously.
      this.scheduleReconnect();
      return;
    }
    const sep = this.o.url.includes("?") ? "&" : "?";
    let socket: SocketLike;
    try {
      socket = this.o.createSocket(`${this.o.url}${sep}token=${encodeURIComponent(token)}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setStatus("open");
      for (const topic of this.topics) socket.send(JSON.stringify({ action: "subscribe", topic }));
    };
    socket.onmessage = (ev) => {
      const msg = parseLiveMessage(ev.data);
      if (msg) this.o.onMessage(msg);
    };
    socket.onerror = () => {
      // A close event always follows; reconnect is handled there.
    };
    socket.onclose = () => {
      if (this.socket === socket) this.socket = null;
      if (!this.stopped) this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer !== null) return;
    this.attempt += 1;
    this.setStatus("reconnecting");
    const delay = backoffDelay(this.attempt, this.o.random, this.o.baseDelayMs, this.o.maxDelayMs);
    this.timer = this.o.setTimer(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}

/** One line describing a notification body: its message, else what the rule observed. */
export function notificationText(body: unknown): string {
  if (!body) return "";
  if (typeof body === "string") return body;
  const b = body as Record<string, unknown>;
  if (typeof b.message === "string") return b.message;
  if (typeof b.summary === "string") return b.summary;
  const observed = b.observed as Record<string, unknown> | undefined;
  const value = observed?.trigger_value;
  if (typeof value === "number") return `Observed value ${Number(value.toPrecision(6))}${typeof b.severity === "string" ? ` · ${b.severity}` : ""}.`;
  return "";
}
