import { describe, expect, it, vi } from "vitest";
import { ApiClient, normalizeMarket, normalizePortfolioView, normalizeRule, normalizeTransaction, portfolioFieldKey } from "./client";
import { ApiError } from "./problem";
import { riskText } from "../pages/PortfolioView";
import { memorySessionStore, type StoredSession } from "../auth/tokens";

const NOW = Date.parse("2026-03-01T00:00:00Z");

function jwt(expSeconds: number): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "ES256", typ: "JWT" })}.${b64({ sub: "1", exp: expSeconds })}.sig`;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
  });
}

function session(overrides: Partial<StoredSession> = {}): StoredSession {
  return { accessToken: "access-1", refreshToken: "refresh-1", accessExpiresAt: NOW + 600_000, address: "0xabc", ...overrides };
}

type Call = { url: string; method: string; auth: string | null; body: unknown };

function fakeFetch(handler: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const impl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const call = { url: String(input), method: init?.method ?? "GET", auth: headers.get("Authorization"), body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    return handler(call);
  });
  return { impl: impl as unknown as typeof fetch, calls };
}

describe("ApiClient errors", () => {
  it("turns RFC 9457 problems into ApiError with field errors", async () => {
    // Given the API rejects a rule with a validation problem
    const { impl } = fakeFetch(() =>
      json(422, {
        type: "https://tidewatch.dev/problems/validation",
        title: "Invalid input",
        status: 422,
        detail: "definition.trigger.threshold: must be >= 1",
        errors: [{ field: "definition.trigger.threshold", message: "must be >= 1" }],
      }),
    );
    const api = new ApiClient({ baseUrl: "https://api.test/", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    // When a request is made, then the error carries the type slug and field map
    const err = await api.listRules().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(422);
    expect(e.slug).toBe("validation");
    expect(e.fieldMap()).toEqual({ "definition.trigger.threshold": "must be >= 1" });
  });

  it("tolerates FastAPI-style and non-JSON error bodies", async () => {
    const responses = [
      json(422, { detail: "bad", errors: [{ loc: ["body", "addresses", 0], msg: "not an address" }] }),
      new Response("<html>Bad gateway</html>", { status: 502 }),
    ];
    const { impl } = fakeFetch(() => responses.shift()!);
    const api = new ApiClient({ baseUrl: "", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    const first = (await api.listPortfolios().catch((e: unknown) => e)) as ApiError;
    expect(first.fieldErrors).toEqual([{ field: "addresses.0", message: "not an address" }]);
    const second = (await api.listPortfolios().catch((e: unknown) => e)) as ApiError;
    expect(second.status).toBe(502);
    expect(second.userMessage).toBe("Server error");
  });

  it("reports rate limiting with Retry-After and network failures as status 0", async () => {
    const { impl } = fakeFetch(() => json(429, { type: "x/rate-limited", title: "Too many requests", status: 429 }, { "Retry-After": "7" }));
    const api = new ApiClient({ baseUrl: "", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    const limited = (await api.listMarkets().catch((e: unknown) => e)) as ApiError;
    expect(limited.retryAfterSeconds).toBe(7);
    expect(limited.userMessage).toBe("Too many requests. Try again in 7 s.");

    const offline = new ApiClient({
      baseUrl: "",
      store: memorySessionStore(session()),
      fetchImpl: (async () => {
        throw new TypeError("Failed to fetch");
      }) as unknown as typeof fetch,
      now: () => NOW,
    });
    const down = (await offline.listMarkets().catch((e: unknown) => e)) as ApiError;
    expect(down.status).toBe(0);
    expect(down.userMessage).toMatch(/Cannot reach/);
  });
});

describe("ApiClient session", () => {
  it("sends the bearer token and follows cursor pages", async () => {
    // Given two pages of portfolios in the API's shape (wallets as objects)
    const pages: Record<string, unknown> = {
      "": { items: [{ id: 1, name: "Main", wallets: [{ address: "0x1", label: null }], chains: [1], created_at: "t", updated_at: "t" }], next_cursor: "c2" },
      c2: { items: [{ id: 2, name: "Side", wallets: [], chains: [8453], created_at: "t", updated_at: "t" }], next_cursor: null },
    };
    const { impl, calls } = fakeFetch((c) => json(200, pages[new URL(c.url).searchParams.get("cursor") ?? ""]));
    const api = new ApiClient({ baseUrl: "https://api.test", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    // When listing, then both pages are read and wallets become addresses
    const list = await api.listPortfolios();
    expect(list.map((p) => [p.id, p.addresses])).toEqual([
      [1, ["0x1"]],
      [2, []],
    ]);
    expect(calls.map((c) => c.url)).toEqual(["https://api.test/portfolios?limit=200", "https://api.test/portfolios?limit=200&cursor=c2"]);
    expect(calls[0].auth).toBe("Bearer access-1");
  });

  it("sends portfolios as wallets and maps wallet field errors to the address list", async () => {
    const { impl, calls } = fakeFetch(() => json(201, { id: 3, name: "N", wallets: [{ address: "0xAb" }], chains: [1] }));
    const api = new ApiClient({ baseUrl: "", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    await api.createPortfolio({ name: "N", addresses: ["0xAb"] });
    await api.updatePortfolio(3, { addresses: ["0xAb", "0xCd"] });
    expect(calls[0].body).toEqual({ name: "N", wallets: [{ address: "0xAb" }] });
    expect(calls[1]).toMatchObject({ method: "PATCH", body: { wallets: [{ address: "0xAb" }, { address: "0xCd" }] } });
    expect(portfolioFieldKey("wallets.1.address")).toBe("addresses");
    expect(portfolioFieldKey("name")).toBe("name");
  });

  it("refreshes an expired access token once for concurrent requests, then retries", async () => {
    // Given an expired access token and two requests at once
    const store = memorySessionStore(session({ accessExpiresAt: NOW - 1 }));
    const fresh = jwt(NOW / 1000 + 900);
    const { impl, calls } = fakeFetch((c) => {
      if (c.url.endsWith("/auth/refresh")) return json(200, { access_token: fresh, refresh_token: "refresh-2" });
      return json(200, { items: [] });
    });
    const api = new ApiClient({ baseUrl: "", store, fetchImpl: impl, now: () => NOW });
    await Promise.all([api.listRules(), api.listPortfolios()]);
    // Then exactly one refresh rotated the tokens and both requests used the new one
    expect(calls.filter((c) => c.url.endsWith("/auth/refresh"))).toHaveLength(1);
    expect(calls.find((c) => c.url.endsWith("/auth/refresh"))?.body).toEqual({ refresh_token: "refresh-1" });
    expect(calls.filter((c) => !c.url.endsWith("/auth/refresh")).map((c) => c.auth)).toEqual([`Bearer ${fresh}`, `Bearer ${fresh}`]);
    expect(store.load()).toMatchObject({ accessToken: fresh, refreshToken: "refresh-2", accessExpiresAt: NOW + 900_000 });
  });

  it("retries a 401 after refreshing, and ends the session when refresh is refused", async () => {
    const store = memorySessionStore(session());
    const expired = vi.fn();
    let refreshes = 0;
    let revoked = false;
    const { impl, calls } = fakeFetch((c) => {
      if (c.url.endsWith("/auth/refresh")) {
        refreshes += 1;
        return refreshes === 1 ? json(200, { access_token: "access-2", refresh_token: "refresh-2", expires_in: 900 }) : json(401, { status: 401 });
      }
      if (c.auth === "Bearer access-2" && !revoked) {
        revoked = true; // the next use of access-2 is refused, as after a server-side logout
        return json(200, []);
      }
      return json(401, { status: 401, title: "Authentication required" });
    });
    const api = new ApiClient({ baseUrl: "", store, fetchImpl: impl, now: () => NOW, onSessionExpired: expired });
    // When the server rejects the first token, the client refreshes and the retry succeeds
    await expect(api.listRules()).resolves.toEqual([]);
    expect(calls.map((c) => c.auth)).toEqual(["Bearer access-1", null, "Bearer access-2"]);
    // When the refresh token itself is refused, the session ends and the 401 surfaces
    const err = (await api.listRules().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(401);
    expect(store.load()).toBeNull();
    expect(expired).toHaveBeenCalledOnce();
  });

  it("verifies a signature into a stored session and logs out by revoking the refresh token", async () => {
    const store = memorySessionStore();
    const access = jwt(NOW / 1000 + 300);
    const { impl, calls } = fakeFetch((c) =>
      c.url.endsWith("/auth/verify") ? json(200, { access_token: access, refresh_token: "r1", user: { address: "0xAbC" } }) : new Response(null, { status: 204 }),
    );
    const api = new ApiClient({ baseUrl: "", store, fetchImpl: impl, now: () => NOW });
    await api.verify("msg", "0xsig", "0xabc");
    expect(calls[0]).toMatchObject({ method: "POST", auth: null, body: { message: "msg", signature: "0xsig" } });
    expect(store.load()).toEqual({ accessToken: access, refreshToken: "r1", accessExpiresAt: NOW + 300_000, address: "0xAbC" });
    await api.logout();
    expect(calls[1]).toMatchObject({ url: "/auth/logout", auth: `Bearer ${access}`, body: { refresh_token: "r1" } });
    expect(store.load()).toBeNull();
  });
});

describe("normalizePortfolioView", () => {
  it("reads the API's nested view: portfolio, totals, sources, cache and risk", () => {
    const view = normalizePortfolioView({
      portfolio: { id: 4, name: "Main", wallets: [{ address: "0xA", label: null }], chains: [1], created_at: "t", updated_at: "t" },
      positions: [
        { chain_id: 1, protocol: "aave-v3", address: "0xA", market: "0xpool", asset_symbol: "WETH", asset_decimals: 18, supplied: 10e18, borrowed: 0, supplied_usd: "30000.0", borrowed_usd: "0", supply_apy: "0.02", borrow_apy: null, health_factor: "1.8" },
        { chain_id: 1, protocol: "aave-v3", address: "0xA", market: "0xpool", asset_symbol: "USDC", asset_decimals: 6, supplied: 0, borrowed: 1, supplied_usd: "0", borrowed_usd: "12000.0", supply_apy: null, borrow_apy: "0.05", health_factor: "1.8" },
      ],
      totals: { supplied_usd: "30000.0", borrowed_usd: "12000.0", net_worth_usd: "18000.0", min_health_factor: "1.8" },
      sources: [{ chain_id: 1, protocol: "aave-v3", as_of: "2026-01-01T00:00:00Z", block_number: 123, stale: false, error: null }],
      cache: { source: "cache", age_seconds: 3 },
      risk: {
        model_version: "m1",
        horizons_hours: [24, 168],
        accounts: [
          {
            chain_id: 1, protocol: "aave-v3", address: "0xA", market: "0xpool", probability: 0.02, band: "low", distance_to_liquidation: 0.44, health_factor: 1.8,
            by_horizon: { "24": { probability: 0.02, band: "low", distance_to_liquidation: 0.44 }, "168": { probability: 0.09, band: "medium", distance_to_liquidation: 0.44 } },
          },
        ],
      },
    });
    expect(view).toMatchObject({ id: 4, name: "Main", addresses: ["0xA"], net_worth_usd: "18000.0", min_health_factor: "1.8", cache_source: "cache" });
    expect(view.staleness).toEqual([{ source: "Aave v3", chain_id: 1, as_of: "2026-01-01T00:00:00Z", age_seconds: null, block_number: 123, stale: false, error: null }]);
    // The account's forecast reaches both of its positions; the WETH collateral gets a liquidation price
    expect(view.positions[0]).toMatchObject({ risk: { probability: 0.02, band: "low", horizon_hours: 24 }, liquidation_buffer: 0.44 });
    expect(view.positions[0].liquidation_price_usd).toBeCloseTo(3000 * 0.56);
    expect(view.positions[1]).toMatchObject({ risk: { probability: 0.02 }, liquidation_price_usd: null });
    expect(riskText(view.positions[0])).toBe("low · 2.0 % in 24 h, 9.0 % in 7 d");
    expect(view.by_protocol).toEqual([{ key: "aave-v3", label: "Aave v3", net_worth_usd: 18000 }]);
  });

  it("derives totals and breakdowns from positions when the API omits them", () => {
    const view = normalizePortfolioView({
      id: 1,
      name: "Main",
      addresses: ["0x1"],
      chains: [1, 8453],
      positions: [
        { address: "0x1", chain_id: 1, protocol: "aave-v3", asset_symbol: "WETH", supplied_usd: "1000", borrowed_usd: "400" },
        { address: "0x1", chain_id: 8453, protocol: "compound-v3", asset_symbol: "USDC", supplied_usd: "250.5", borrowed_usd: "0" },
        { address: "0x1", chain_id: 1, protocol: "compound-v3", asset_symbol: "USDC", supplied_usd: 100, borrowed_usd: 0 },
      ],
    });
    expect(view.net_worth_usd).toBeCloseTo(950.5);
    expect(view.by_protocol).toEqual([
      { key: "aave-v3", label: "Aave v3", net_worth_usd: 600 },
      { key: "compound-v3", label: "Compound v3", net_worth_usd: 350.5 },
    ]);
    expect(view.by_chain.map((b) => [b.label, b.net_worth_usd])).toEqual([
      ["Ethereum", 700],
      ["Base", 250.5],
    ]);
  });

  it("keeps the API's own totals, breakdown maps and staleness map", () => {
    const view = normalizePortfolioView({
      id: 1,
      name: "Main",
      addresses: [],
      chains: [],
      positions: [],
      totals: { net_worth_usd: "10", supplied_usd: "10", borrowed_usd: "0" },
      by_protocol: { "aave-v3": "10" },
      by_chain: [{ chain_id: 8453, net_worth_usd: "10" }],
      staleness: { "chain:1": { as_of: "2026-01-01T00:00:00Z", stale: true } },
    });
    expect(view.net_worth_usd).toBe("10");
    expect(view.by_protocol).toEqual([{ key: "aave-v3", label: "Aave v3", net_worth_usd: 10 }]);
    expect(view.by_chain).toEqual([{ key: "8453", label: "Base", net_worth_usd: 10 }]);
    expect(view.staleness).toEqual([{ source: "chain:1", as_of: "2026-01-01T00:00:00Z", age_seconds: null, stale: true }]);
  });
});

describe("other normalizers", () => {
  it("flattens a market's latest rate and derives TVL in USD", () => {
    const m = normalizeMarket({
      id: 7, chain_id: 8453, protocol: "compound-v3", market_key: "0xcomet", asset_symbol: "USDC", asset_address: "0xusdc", asset_decimals: 6,
      latest: { block_number: 1, observed_at: "2026-01-01T00:00:00Z", supply_apy: "0.05", borrow_apy: "0.07", utilization: "0.8", total_supplied: 2_500_000_000_000, total_borrowed: 1, price_usd: "1.0" },
    });
    expect(m).toMatchObject({ id: 7, supply_apy: "0.05", borrow_apy: "0.07", utilization: "0.8", tvl_usd: 2_500_000, observed_at: "2026-01-01T00:00:00Z", apy_forecast: null });
    expect(normalizeMarket({ id: 1, asset_symbol: "X", latest: null, forecast: { predicted_apy: 0.04, lower: 0.03, upper: 0.05, horizon_hours: 24 } })).toMatchObject({
      supply_apy: null,
      tvl_usd: null,
      apy_forecast: { supply_apy: 0.04, low: 0.03, high: 0.05 },
    });
  });

  it("reads the API's flat market summary and its bucketed rate history", async () => {
    expect(normalizeMarket({ id: 9, chain_id: 1, protocol: "aave-v3", asset_symbol: "DAI", asset_decimals: 18, supply_apy: "0.025", total_supplied: "20000000000000000000000000", price_usd: "1.0", tvl_usd: "20000000", stale: true })).toMatchObject({
      supply_apy: "0.025",
      tvl_usd: "20000000",
      stale: true,
    });
    const { impl, calls } = fakeFetch(() =>
      json(200, { market: {}, start: "s", end: "e", bucket_seconds: 3600, points: [{ t: "2026-01-01T01:00:00Z", supply_apy: "0.02", borrow_apy: "0.03", utilization: "0.5", samples: 3 }, { t: "2026-01-01T00:00:00Z", supply_apy: "0.01", borrow_apy: null, utilization: null, samples: 1 }] }),
    );
    const api = new ApiClient({ baseUrl: "", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    const points = await api.marketHistory(9);
    // A year back (the API refuses ranges over 366 days), no token needed
    expect(calls[0].url).toBe(`/markets/9/history?points=500&start=${encodeURIComponent(new Date(NOW - 365 * 86_400_000).toISOString())}`);
    expect(calls[0].auth).toBeNull();
    // Two coarse buckets over a year: read again from the first bucket, at finer buckets
    expect(calls).toHaveLength(2);
    expect(calls[1].url).toBe(`/markets/9/history?points=500&start=${encodeURIComponent("2026-01-01T00:00:00.000Z")}`);
    expect(points.map((p) => [p.observed_at, p.supply_apy])).toEqual([
      ["2026-01-01T00:00:00Z", "0.01"],
      ["2026-01-01T01:00:00Z", "0.02"],
    ]);
  });

  it("reads flat rules and tolerates a nested definition", () => {
    expect(normalizeRule({ id: 1, trigger: { type: "health_factor_below", threshold: 1.2 }, actions: [{ type: "notify" }] })).toMatchObject({ conditions: null, actions: [{ type: "notify" }] });
    expect(normalizeRule({ id: 2, definition: { trigger: { type: "market_apy" }, actions: [] } }).trigger).toEqual({ type: "market_apy" });
  });

  it("turns the wallet function's transactions into steps with numeric chain ids", () => {
    const t = normalizeTransaction({
      id: "u", status: "prepared", chain_id: 8453, summary: "Supply 1 USDC",
      transactions: [{ from: "0xA", to: "0xB", data: "0x", value: "0x0", chainId: "0x2105", gas: "0x5208", maxFeePerGas: "0x1", maxPriorityFeePerGas: "0x1", nonce: "0x0", summary: "Approve", status: "prepared" }],
    });
    expect(t.txs).toHaveLength(1);
    expect(t.txs[0]).toMatchObject({ chainId: 8453, summary: "Approve", gas: "0x5208" });
  });
});

describe("ApiClient transactions", () => {
  it("hands a step to the API as exactly raw_transaction or tx_hash (the API refuses other fields)", async () => {
    // Given an API that records broadcasts
    const { impl, calls } = fakeFetch(() => json(200, { transaction_id: "t1", index: 0, hash: "0x" + "ab".repeat(32), status: "submitted" }));
    const api = new ApiClient({ baseUrl: "", store: memorySessionStore(session()), fetchImpl: impl, now: () => NOW });
    // When a wallet that signs gives the raw transaction, and one that sends itself gives the hash
    await api.recordBroadcast("t1", { rawTransaction: "0x02f8" });
    await api.recordBroadcast("t1", { txHash: "0x" + "ab".repeat(32) });
    // Then each body holds only that field
    expect(calls.map((c) => [c.method, c.url, c.body])).toEqual([
      ["POST", "/transactions/t1/broadcast", { raw_transaction: "0x02f8" }],
      ["POST", "/transactions/t1/broadcast", { tx_hash: "0x" + "ab".repeat(32) }],
    ]);
  });
});
