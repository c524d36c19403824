import { describe, expect, it } from "vitest";
import { LiveConnection, backoffDelay, notificationFromMessage, notificationText, parseLiveMessage, type LiveMessage, type SocketLike } from "./socket";

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike["onopen"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  onmessage: SocketLike["onmessage"] = null;
  sent: unknown[] = [];
  closed = false;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.closed = true;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  receive(data: unknown) {
    this.onmessage?.({ data: JSON.stringify(data) });
  }
}

function harness(tokens: Array<string | null>) {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  const messages: LiveMessage[] = [];
  const statuses: string[] = [];
  const conn = new LiveConnection({
    url: "wss://ws.test/ws",
    getToken: async () => (tokens.length ? tokens.shift()! : "last"),
    onMessage: (m) => messages.push(m),
    onStatus: (s) => statuses.push(s),
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => undefined,
    random: () => 0.5,
  });
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { conn, sockets, timers, messages, statuses, flush };
}

describe("backoffDelay", () => {
  it("grows exponentially, is capped, and is never zero", () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, () => 1)).toBe(30_000);
    expect(backoffDelay(20, () => 0)).toBe(15_000);
  });
});

describe("LiveConnection", () => {
  it("connects with the token in the query string and subscribes to its topics", async () => {
    const h = harness(["tok en"]);
    h.conn.subscribe("notifications");
    h.conn.start();
    await h.flush();
    expect(h.sockets[0].url).toBe("wss://ws.test/ws?token=tok%20en");
    h.sockets[0].open();
    expect(h.sockets[0].sent).toEqual([{ action: "subscribe", topic: "notifications" }]);
    h.conn.subscribe("portfolio:7");
    expect(h.sockets[0].sent[1]).toEqual({ action: "subscribe", topic: "portfolio:7" });
    expect(h.statuses).toEqual(["connecting", "open"]);
  });

  it("reconnects after a drop with backoff, a fresh token and every topic re-subscribed", async () => {
    // Given an open connection with two topics
    const h = harness(["t1", "t2"]);
    h.conn.subscribe("notifications");
    h.conn.subscribe("markets");
    h.conn.start();
    await h.flush();
    h.sockets[0].open();
    // When the socket drops twice in a row before reopening
    h.sockets[0].drop();
    expect(h.timers.map((t) => t.ms)).toEqual([750]);
    h.timers[0].fn();
    await h.flush();
    h.sockets[1].drop();
    expect(h.timers.map((t) => t.ms)).toEqual([750, 1500]);
    h.timers[1].fn();
    await h.flush();
    h.sockets[2].open();
    // Then each attempt asked for a token, and the new socket re-subscribed everything
    expect(h.sockets.map((s) => s.url)).toEqual(["wss://ws.test/ws?token=t1", "wss://ws.test/ws?token=t2", "wss://ws.test/ws?token=last"]);
    expect(h.sockets[2].sent).toEqual([
      { action: "subscribe", topic: "notifications" },
      { action: "subscribe", topic: "markets" },
    ]);
    // And the backoff resets once connected
    h.sockets[2].drop();
    expect(h.timers[2].ms).toBe(750);
  });

  it("waits instead of connecting anonymously when there is no token", async () => {
    const h = harness([null]);
    h.conn.start();
    await h.flush();
    expect(h.sockets).toHaveLength(0);
    expect(h.timers).toHaveLength(1);
  });

  it("stops for good: no reconnect after stop", async () => {
    const h = harness(["t"]);
    h.conn.start();
    await h.flush();
    h.sockets[0].open();
    h.conn.stop();
    expect(h.sockets[0].closed).toBe(true);
    h.sockets[0].drop();
    expect(h.timers).toHaveLength(0);
    expect(h.conn.currentStatus).toBe("closed");
  });

  it("delivers parsed messages and ignores junk", async () => {
    const h = harness(["t"]);
    h.conn.start();
    await h.flush();
    h.sockets[0].open();
    h.sockets[0].onmessage?.({ data: "not json" });
    h.sockets[0].receive({ topic: "markets", type: "market_update", data: { id: 1 } });
    expect(h.messages).toEqual([{ topic: "markets", type: "market_update", data: { id: 1 } }]);
  });
});

describe("live message parsing", () => {
  it("reads the API's flat, type-keyed messages and routes them to topics", () => {
    const n = parseLiveMessage(JSON.stringify({ type: "notification", id: 5, title: "Rule 'HF' fired", body: { observed: { trigger_value: 1.234567 }, severity: "warning" } }))!;
    expect(n.topic).toBe("notifications");
    expect(notificationFromMessage(n)).toMatchObject({ id: 5, title: "Rule 'HF' fired", kind: "rule_fired" });
    expect(notificationText(notificationFromMessage(n)!.body)).toBe("Observed value 1.23457 · warning.");
    const market = parseLiveMessage(JSON.stringify({ type: "market", market_id: 3, data: { supply_apy: "0.05" } }))!;
    expect(market).toEqual({ topic: "markets", type: "market", data: { supply_apy: "0.05" } });
    expect(notificationFromMessage(market)).toBeNull();
    expect(parseLiveMessage(JSON.stringify({ type: "portfolio", portfolio_id: 9, data: {} }))!.topic).toBe("portfolio:9");
    expect(parseLiveMessage(JSON.stringify({ type: "transaction_prepared", transaction_id: "u", summary: "Repay" }))!).toMatchObject({ topic: "notifications", data: { summary: "Repay" } });
    // Acknowledgements are control frames, not topic data (a "markets" ack must not refresh tables)
    expect(parseLiveMessage(JSON.stringify({ type: "subscribed", topic: "markets", topics: ["markets"] }))!.topic).toBe("_control");
  });

  it("tolerates an envelope with topic and data", () => {
    const a = parseLiveMessage(JSON.stringify({ topic: "notifications", type: "notification", data: { id: 6, title: "Spread" } }))!;
    expect(notificationFromMessage(a)).toMatchObject({ id: 6, title: "Spread" });
    expect(parseLiveMessage(JSON.stringify({ hello: 1 }))).toBeNull();
    expect(parseLiveMessage("[1]")).toBeNull();
  });
});
