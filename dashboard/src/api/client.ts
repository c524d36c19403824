/**
 * The typed Tidewatch API client: the one place that knows routes, request bodies and response
 * shapes. Responses pass through small normalizers so that shape drift in the API is absorbed
 * here rather than in every page.
 */
import { ApiError, problemFromResponse } from "./problem";
import type {
  AppNotification,
  BillingState,
  Breakdown,
  Market,
  MarketRatePoint,
  NonceResponse,
  Page,
  Portfolio,
  PortfolioSnapshot,
  PortfolioView,
  Num,
  Position,
  PreparedTransaction,
  PrepareTransactionInput,
  Rule,
  RuleExecution,
  RuleInput,
  RiskForecast,
  RuleTestResult,
  TokenPair,
  UnsignedTx,
} from "./types";
import { sessionFromTokens, type SessionStore, type StoredSession } from "../auth/tokens";
import { fillPath, type ApiPath, type BodyOf, type Method, type PathParamsOf, type QueryOf, type ResponseOf, type Schemas } from "./typed";
import { chainName, protocolName, toNumber } from "../format";

export interface ApiClientOptions {
  baseUrl: string;
  store: SessionStore;
  fetchImpl?: typeof fetch;
  /** Called when the session ends involuntarily (refresh rejected). */
  onSessionExpired?: () => void;
  now?: () => number;
}

type Query = Record<string, string | number | boolean | undefined | null>;

interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Query;
  auth?: boolean;
  /** Use this token as is (no refresh), e.g. for logout after the session is cleared locally. */
  bearer?: string;
  signal?: AbortSignal;
}

/** How far back the market chart reads (the history route allows at most 366 days per request). */
const HISTORY_DAYS = 365;

/** Refresh a little before expiry so a request never races the token's last second. */
const EXPIRY_SKEW_MS = 15_000;

export class ApiClient {
  private readonly baseUrl: string;
  private readonly store: SessionStore;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly onSessionExpired?: () => void;
  private refreshing: Promise<StoredSession | null> | null = null;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.store = options.store;
    // Bound to window: calling an unbound native fetch throws "Illegal invocation".
    this.fetchImpl = options.fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
    this.now = options.now ?? Date.now;
    this.onSessionExpired = options.onSessionExpired;
  }

  get session(): StoredSession | null {
    return this.store.load();
  }

  url(path: string, query?: Query): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
    const suffix = qs.toString();
    return `${this.baseUrl}${path}${suffix ? `?${suffix}` : ""}`;
  }

  /** A valid access token, refreshing first when it is (about to be) expired. */
  async accessToken(): Promise<string | null> {
    const session = this.store.load();
    if (!session) return null;
    if (session.accessExpiresAt - EXPIRY_SKEW_MS > this.now()) return session.accessToken;
    const refreshed = await this.refresh();
    return refreshed?.accessToken ?? null;
  }

  /** Rotates the refresh token; concurrent callers share one in-flight refresh. */
  refresh(): Promise<StoredSession | null> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<StoredSession | null> {
    const session = this.store.load();
    if (!session) return null;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url("/auth/refresh"), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: session.refreshToken }),
      });
    } catch {
      // Offline: keep the session, the next request will try again.
      throw new ApiError({ status: 0 });
    }
    if (!response.ok) {
      if (response.status === 400 || response.status === 401 || response.status === 403) {
        this.store.clear();
        this.onSessionExpired?.();
        return null;
      }
      throw await problemFromResponse(response);
    }
    const pair = (await response.json()) as TokenPair;
    const next = sessionFromTokens(pair, session.address, this.now());
    this.store.save(next);
    return next;
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const auth = options.auth ?? true;
    const send = async (token: string | null): Promise<Response> => {
      const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
      if (options.body !== undefined) headers["Content-Type"] = "application/json";
      if (token) headers.Authorization = `Bearer ${token}`;
      try {
        return await this.fetchImpl(this.url(path, options.query), {
          method: options.method ?? "GET",
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: options.signal,
        });
      } catch (err) {
        if (err instanceof DOMException && err.name === "AbortError") throw err;
        throw new ApiError({ status: 0, detail: err instanceof Error ? err.message : undefined });
      }
    };

    if (options.bearer) {
      const response = await send(options.bearer);
      if (!response.ok) throw await problemFromResponse(response);
      return undefined as T;
    }
    let token = auth ? await this.accessToken() : null;
    let response = await send(token);
    if (response.status === 401 && auth && token) {
      // The server may have rotated keys or revoked the token early: one refresh, one retry.
      const refreshed = await this.refresh();
      token = refreshed?.accessToken ?? null;
      if (token) response = await send(token);
    }
    if (!response.ok) throw await problemFromResponse(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * One route, typed from the generated OpenAPI types: `call("get", "/markets/{market_id}",
   * { path: { market_id: 1 } })` resolves to `MarketSummary`.
   */
  call<P extends ApiPath, M extends Method>(
    method: M,
    path: P,
    options: { path?: PathParamsOf<P, M>; query?: QueryOf<P, M>; body?: BodyOf<P, M>; auth?: boolean; signal?: AbortSignal } = {},
  ): Promise<ResponseOf<P, M>> {
    return this.request<ResponseOf<P, M>>(fillPath(path, options.path as Record<string, string | number> | undefined), {
      method: method.toUpperCase(),
      query: options.query as Query | undefined,
      body: options.body,
      auth: options.auth,
      signal: options.signal,
    });
  }

  // ---- auth -------------------------------------------------------------------------------
  getNonce(): Promise<NonceResponse> {
    return this.call("get", "/auth/nonce", { auth: false });
  }

  async verify(message: string, signature: string, address: string): Promise<StoredSession> {
    const pair: TokenPair = await this.call("post", "/auth/verify", { auth: false, body: { message, signature } });
    const session = sessionFromTokens(pair, address, this.now());
    this.store.save(session);
    return session;
  }

  async logout(): Promise<void> {
    try {
      // A fresh access token first (refresh rotates the refresh token), then revoke that sign-in.
      const token = await this.accessToken();
      const session = this.store.load();
      if (token && session) {
        await this.request<void>("/auth/logout", { method: "POST", body: { refresh_token: session.refreshToken }, bearer: token });
      }
    } catch {
      // Signing out locally always succeeds; the refresh token still expires on its own.
    } finally {
      this.store.clear();
    }
  }

  // ---- portfolios -------------------------------------------------------------------------
  async listPortfolios(): Promise<Portfolio[]> {
    return (await this.allPages<unknown>("/portfolios")).map(normalizePortfolio);
  }

  async createPortfolio(input: { name: string; addresses: string[]; chains?: number[] }): Promise<Portfolio> {
    const body = { name: input.name, wallets: input.addresses.map((address) => ({ address })), ...(input.chains ? { chains: input.chains } : {}) };
    return normalizePortfolio(await this.request("/portfolios", { method: "POST", body }));
  }

  async updatePortfolio(id: number, patch: { name?: string; addresses?: string[]; chains?: number[] }): Promise<Portfolio> {
    const body: Record<string, unknown> = {};
    if (patch.name !== undefined) body.name = patch.name;
    if (patch.addresses !== undefined) body.wallets = patch.addresses.map((address) => ({ address }));
    if (patch.chains !== undefined) body.chains = patch.chains;
    return normalizePortfolio(await this.request(`/portfolios/${id}`, { method: "PATCH", body }));
  }

  deletePortfolio(id: number): Promise<void> {
    return this.request<void>(`/portfolios/${id}`, { method: "DELETE" });
  }

  async getPortfolio(id: number): Promise<PortfolioView> {
    return normalizePortfolioView(await this.request(`/portfolios/${id}`));
  }

  /** Snapshots oldest first, for charts (the API pages them newest first). */
  async portfolioHistory(id: number): Promise<PortfolioSnapshot[]> {
    const items = asItems<PortfolioSnapshot>(await this.request(`/portfolios/${id}/history`, { query: { limit: 200 } }));
    return [...items].sort((a, b) => Date.parse(a.taken_at) - Date.parse(b.taken_at));
  }

  /** Positions of any address (public, no sign-in): totals, health factors and source freshness. */
  async addressPositions(address: string): Promise<PortfolioView> {
    const reading: Schemas["PositionReading"] = await this.call("get", "/positions/{address}", { auth: false, path: { address } });
    return normalizePortfolioView({ ...reading, portfolio: { id: 0, name: address, wallets: [address], chains: [] } });
  }

  // ---- markets ----------------------------------------------------------------------------
  async listMarkets(): Promise<Market[]> {
    return (await this.allPages<unknown>("/markets", 10, false)).map(normalizeMarket);
  }

  async getMarket(id: number): Promise<Market | null> {
    try {
      return normalizeMarket(await this.call("get", "/markets/{market_id}", { auth: false, path: { market_id: id } }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * The market's rate history, oldest first, in at most 500 buckets: first over the last 365 days
   * (the API's widest range); when that finds only a few coarse buckets (a fresh install's sparse
   * history would all land in one 17-hour bucket), once more from the first bucket on, so the
   * readings that exist are drawn at their own times. The range buttons zoom into the result.
   */
  async marketHistory(id: number, start: Date = new Date(this.now() - HISTORY_DAYS * 86_400_000)): Promise<MarketRatePoint[]> {
    const read = (from: Date) =>
      this.call("get", "/markets/{market_id}/history", { auth: false, path: { market_id: id }, query: { points: 500, start: from.toISOString() } });
    let history = await read(start);
    const first = Math.min(...history.points.map((p) => Date.parse(p.t)));
    if (history.points.length && history.points.length < 50 && history.bucket_seconds > 300 && first > start.getTime()) history = await read(new Date(first));
    const items = history.points.map((p) => ({ ...p, observed_at: p.t }));
    return items.sort((a, b) => Date.parse(a.observed_at) - Date.parse(b.observed_at));
  }

  // ---- rules ------------------------------------------------------------------------------
  async listRules(): Promise<Rule[]> {
    return (await this.allPages<unknown>("/rules")).map(normalizeRule);
  }

  async getRule(id: number): Promise<Rule> {
    return normalizeRule(await this.request(`/rules/${id}`));
  }

  async createRule(input: RuleInput): Promise<Rule> {
    return normalizeRule(await this.request("/rules", { method: "POST", body: input }));
  }

  async updateRule(id: number, patch: Partial<RuleInput>): Promise<Rule> {
    return normalizeRule(await this.request(`/rules/${id}`, { method: "PATCH", body: patch }));
  }

  deleteRule(id: number): Promise<void> {
    return this.request<void>(`/rules/${id}`, { method: "DELETE" });
  }

  testRule(id: number): Promise<RuleTestResult> {
    return this.request<RuleTestResult>(`/rules/${id}/test`, { method: "POST" });
  }

  async ruleExecutions(id: number): Promise<RuleExecution[]> {
    return asItems<RuleExecution>(await this.request(`/rules/${id}/executions`, { query: { limit: 50 } }));
  }

  // ---- notifications ----------------------------------------------------------------------
  async listNotifications(): Promise<AppNotification[]> {
    return asItems<AppNotification>(await this.request("/notifications", { query: { limit: 100 } }));
  }

  // ---- transactions -----------------------------------------------------------------------
  async listTransactions(): Promise<PreparedTransaction[]> {
    return asItems<unknown>(await this.request("/transactions", { query: { limit: 50 } })).map(normalizeTransaction);
  }

  async prepareTransaction(input: PrepareTransactionInput): Promise<PreparedTransaction> {
    return normalizeTransaction(await this.request("/transactions/prepare", { method: "POST", body: input }));
  }

  /**
   * Hands one signed step to the API. A wallet that can sign without sending
   * (eth_signTransaction) gives the raw transaction, which the API broadcasts; injected wallets
   * such as MetaMask only sign-and-send (eth_sendTransaction), so the API records the hash and
   * tracks its receipt. Exactly one of the two: the API finds which step it is itself (and
   * refuses unknown fields).
   */
  async recordBroadcast(id: string, step: { rawTransaction: string } | { txHash: string }): Promise<unknown> {
    const body = "rawTransaction" in step ? { raw_transaction: step.rawTransaction } : { tx_hash: step.txHash };
    return this.request(`/transactions/${id}/broadcast`, { method: "POST", body });
  }

  // ---- billing ----------------------------------------------------------------------------
  getBilling(): Promise<BillingState> {
    return this.request<BillingState>("/billing");
  }

  /** Return URLs are configured server-side; they are sent too for APIs that accept them. */
  checkout(successUrl: string, cancelUrl: string): Promise<{ url: string }> {
    return this.request<{ url: string }>("/billing/checkout", { method: "POST", body: { success_url: successUrl, cancel_url: cancelUrl } });
  }

  portal(returnUrl: string): Promise<{ url: string }> {
    return this.request<{ url: string }>("/billing/portal", { method: "POST", body: { return_url: returnUrl } });
  }

  /** Follows `next_cursor` (bounded: the dashboard never needs more than a few pages). */
  private async allPages<T>(path: string, maxPages = 10, auth = true): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < maxPages; page++) {
      const raw: unknown = await this.request(path, { auth, query: { limit: 200, cursor } });
      out.push(...asItems<T>(raw));
      cursor = raw && typeof raw === "object" && !Array.isArray(raw) ? (((raw as Record<string, unknown>).next_cursor as string | null) ?? null) : null;
      if (!cursor) break;
    }
    return out;
  }
}

// ---- normalizers ----------------------------------------------------------------------------

/** Lists arrive as `{items, next_cursor}` (cursor pagination) or, tolerated, as a bare array. */
export function asItems<T>(raw: unknown): T[] {
  if (Array.isArray(raw)) return raw as T[];
  if (raw && typeof raw === "object") {
    const obj = raw as Partial<Page<T>> & Record<string, unknown>;
    if (Array.isArray(obj.items)) return obj.items;
    if (Array.isArray(obj.data)) return obj.data as T[];
  }
  return [];
}

function normalizePortfolio(raw: unknown): Portfolio {
  const r = (raw ?? {}) as Record<string, unknown>;
  const list = (r.wallets ?? r.addresses ?? []) as Array<string | { address: string }>;
  return {
    id: r.id as number,
    name: r.name as string,
    addresses: list.map((a) => (typeof a === "string" ? a : a.address)),
    chains: (r.chains as number[]) ?? [],
    created_at: r.created_at as string | undefined,
    updated_at: r.updated_at as string | undefined,
  };
}

/** The form field a portfolio validation error belongs to ("wallets.0.address" → "addresses"). */
export function portfolioFieldKey(field: string): string {
  const head = field.split(".")[0];
  return head === "wallets" ? "addresses" : head;
}

function pow10(decimals: number): number {
  return 10 ** decimals;
}

/** Flattens `latest` into the market and derives TVL in USD from base units and price. */
export function normalizeMarket(raw: unknown): Market {
  const r = (raw ?? {}) as Record<string, unknown>;
  const latest = (r.latest ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (k in r ? r[k] : latest[k]) as Num | null | undefined;
  const decimals = typeof r.asset_decimals === "number" ? r.asset_decimals : null;
  const supplied = latest.total_supplied ?? r.total_supplied;
  const price = toNumber((latest.price_usd ?? r.price_usd) as Num | null);
  let tvl = (r.tvl_usd as Num | null | undefined) ?? null;
  if (tvl === null && supplied != null && decimals !== null && price !== null) {
    tvl = (Number(supplied as Num) / pow10(decimals)) * price;
  }
  const f = (r.apy_forecast ?? r.forecast ?? null) as Record<string, unknown> | null;
  return {
    id: r.id as number,
    chain_id: r.chain_id as number,
    protocol: r.protocol as string,
    market_key: r.market_key as string | undefined,
    asset_symbol: r.asset_symbol as string,
    asset_address: r.asset_address as string | undefined,
    asset_decimals: decimals ?? undefined,
    supply_apy: pick("supply_apy") ?? null,
    borrow_apy: pick("borrow_apy") ?? null,
    utilization: pick("utilization") ?? null,
    tvl_usd: tvl,
    observed_at: (pick("observed_at") as string | null | undefined) ?? null,
    stale: typeof r.stale === "boolean" ? r.stale : undefined,
    apy_forecast: f
      ? {
          supply_apy: (f.predicted_apy ?? f.supply_apy ?? null) as Num | null,
          low: (f.lower ?? f.low ?? null) as Num | null,
          high: (f.upper ?? f.high ?? null) as Num | null,
          horizon_hours: f.horizon_hours as number | undefined,
        }
      : null,
  };
}

/** Rules are flat (trigger/conditions/actions at the top); a nested `definition` is tolerated. */
export function normalizeRule(raw: unknown): Rule {
  const r = (raw ?? {}) as Record<string, unknown>;
  const def = (r.definition ?? {}) as Record<string, unknown>;
  return {
    ...(r as unknown as Rule),
    trigger: (r.trigger ?? def.trigger ?? { type: "?" }) as Rule["trigger"],
    conditions: (r.conditions ?? def.conditions ?? null) as Rule["conditions"],
    actions: (r.actions ?? def.actions ?? []) as Rule["actions"],
  };
}

function hexOrNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return v.startsWith("0x") ? Number.parseInt(v, 16) : Number(v);
  return Number.NaN;
}

/** The wallet function's `transactions` (hex quantities, chainId as hex) as UI steps. */
export function normalizeTransaction(raw: unknown): PreparedTransaction {
  const r = (raw ?? {}) as Record<string, unknown>;
  const steps = (r.transactions ?? r.txs ?? []) as Array<Record<string, unknown>>;
  const txs: UnsignedTx[] = steps.map((t) => ({ ...(t as unknown as UnsignedTx), chainId: hexOrNumber(t.chainId ?? r.chain_id) }));
  return {
    ...(r as unknown as PreparedTransaction),
    chain_id: hexOrNumber(r.chain_id),
    txs,
  };
}

function sumBy(positions: Position[], key: (p: Position) => string, label: (k: string) => string): Breakdown[] {
  const totals = new Map<string, number>();
  for (const p of positions) {
    const net = (toNumber(p.supplied_usd) ?? 0) - (toNumber(p.borrowed_usd) ?? 0);
    totals.set(key(p), (totals.get(key(p)) ?? 0) + net);
  }
  return [...totals.entries()]
    .map(([k, v]) => ({ key: k, label: label(k), net_worth_usd: v }))
    .sort((a, b) => b.net_worth_usd - a.net_worth_usd);
}

function normalizeBreakdown(raw: unknown, keyField: string, label: (k: string) => string): Breakdown[] | null {
  // Either [{protocol|chain_id, net_worth_usd}] or {"aave-v3": "123.4", ...}.
  if (Array.isArray(raw)) {
    return raw.map((row: Record<string, unknown>) => {
      const key = String(row[keyField] ?? row.key ?? "");
      return { key, label: label(key), net_worth_usd: toNumber(row.net_worth_usd as string) ?? 0 };
    });
  }
  if (raw && typeof raw === "object") {
    return Object.entries(raw as Record<string, unknown>).map(([key, v]) => {
      const value = v && typeof v === "object" ? (v as Record<string, unknown>).net_worth_usd : v;
      return { key, label: label(key), net_worth_usd: toNumber(value as string) ?? 0 };
    });
  }
  return null;
}

const STABLE = new Set(["USDC", "USDT", "DAI", "USDBC", "USDS", "GHO", "LUSD", "FRAX", "PYUSD", "USDE"]);

/**
 * Where a supplied volatile asset's price would trigger liquidation: its current price (USD value
 * over units) lowered by the forecast's distance to liquidation. Debt and stablecoins have none.
 */
export function liquidationPrice(p: Position, distance: number | null | undefined): number | null {
  if (distance == null || !Number.isFinite(distance) || STABLE.has(p.asset_symbol.toUpperCase())) return null;
  const units = p.supplied != null && p.asset_decimals != null ? Number(p.supplied) / 10 ** p.asset_decimals : null;
  const usd = toNumber(p.supplied_usd);
  if (!units || !usd) return null;
  return (usd / units) * (1 - distance);
}

/**
 * Joins forecasts to positions. The API's `risk` is {horizons_hours, accounts: [{chain_id,
 * protocol, address, market, probability, band, distance_to_liquidation, by_horizon}]}, one per
 * account (all positions of an address in one market share it); a forecast on the position
 * itself, or a list keyed by position_id, is tolerated.
 */
function attachRisk(positions: Position[], risk: unknown): Position[] {
  const r = risk && typeof risk === "object" && !Array.isArray(risk) ? (risk as Record<string, unknown>) : null;
  const list = (Array.isArray(risk) ? risk : (r?.accounts ?? r?.positions ?? r?.forecasts ?? null)) as Array<RiskForecast & Record<string, unknown>> | null;
  const horizon = Array.isArray(r?.horizons_hours) ? (r.horizons_hours as number[])[0] : undefined;
  const find = (p: Position): RiskForecast | null => {
    if (!Array.isArray(list)) return null;
    const id = (p as Position & { position_id?: string }).position_id ?? `${p.chain_id}:${p.protocol}:${p.address}`;
    return (
      list.find(
        (f) =>
          (f.position_id != null && f.position_id === id) ||
          (f.chain_id === p.chain_id && f.protocol === p.protocol && String(f.address).toLowerCase() === p.address.toLowerCase() && (f.market == null || p.market == null || String(f.market).toLowerCase() === p.market.toLowerCase())),
      ) ?? null
    );
  };
  return positions.map((p) => {
    const found = p.risk ?? find(p);
    const forecast = found ? { ...found, horizon_hours: found.horizon_hours ?? horizon } : null;
    const buffer = p.liquidation_buffer ?? forecast?.distance_to_liquidation ?? null;
    const price = p.liquidation_price_usd ?? (toNumber(p.supplied_usd) ? liquidationPrice(p, forecast?.distance_to_liquidation) : null);
    return { ...p, risk: forecast, liquidation_buffer: buffer, liquidation_price_usd: price };
  });
}

export function normalizePortfolioView(raw: unknown): PortfolioView {
  const r = (raw ?? {}) as Record<string, unknown>;
  // The API nests the portfolio ({portfolio, positions, totals, sources, cache, risk}).
  const base = normalizePortfolio(r.portfolio ?? r);
  const positions = attachRisk(asItems<Position>(r.positions), r.risk);
  const totals = (r.totals ?? {}) as Record<string, unknown>;
  const supplied = (r.supplied_usd ?? totals.supplied_usd ?? positions.reduce((s, p) => s + (toNumber(p.supplied_usd) ?? 0), 0)) as Num;
  const borrowed = (r.borrowed_usd ?? totals.borrowed_usd ?? positions.reduce((s, p) => s + (toNumber(p.borrowed_usd) ?? 0), 0)) as Num;
  const net = (r.net_worth_usd ?? totals.net_worth_usd ?? (toNumber(supplied) ?? 0) - (toNumber(borrowed) ?? 0)) as Num;
  const hfs = positions.map((p) => toNumber(p.health_factor ?? null)).filter((v): v is number => v !== null);
  const minHf = (totals.min_health_factor ?? r.min_health_factor ?? (hfs.length ? Math.min(...hfs) : null)) as Num | null;
  const rawSources = r.sources ?? r.staleness;
  const staleness = Array.isArray(rawSources)
    ? (rawSources as Array<Record<string, unknown>>).map((s) => ({
        source: String(s.source ?? (s.protocol ? protocolName(String(s.protocol)) : "?")),
        chain_id: s.chain_id as number | undefined,
        as_of: (s.as_of as string) ?? null,
        age_seconds: (s.age_seconds as number) ?? null,
        block_number: (s.block_number as number) ?? null,
        stale: Boolean(s.stale),
        error: (s.error as string) ?? null,
      }))
    : rawSources && typeof rawSources === "object"
      ? Object.entries(rawSources as Record<string, Record<string, unknown>>).map(([source, s]) => ({
          source,
          as_of: (s.as_of as string) ?? null,
          age_seconds: (s.age_seconds as number) ?? null,
          stale: Boolean(s.stale),
        }))
      : [];
  const cache = (r.cache ?? null) as Record<string, unknown> | null;
  return {
    ...base,
    net_worth_usd: net,
    supplied_usd: supplied,
    borrowed_usd: borrowed,
    min_health_factor: minHf,
    cache_source: (cache?.source as string) ?? null,
    positions,
    by_protocol:
      normalizeBreakdown(r.by_protocol, "protocol", protocolName) ??
      sumBy(positions, (p) => p.protocol, protocolName),
    by_chain:
      normalizeBreakdown(r.by_chain, "chain_id", (k) => chainName(Number(k))) ??
      sumBy(positions, (p) => String(p.chain_id), (k) => chainName(Number(k))),
    staleness,
  };
}
