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
  Position,
  PreparedTransaction,
  PrepareTransactionInput,
  Rule,
  RuleExecution,
  RuleInput,
  RuleTestResult,
  TokenPair,
} from "./types";
import { sessionFromTokens, type SessionStore, type StoredSession } from "../auth/tokens";
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
  signal?: AbortSignal;
}

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

  // ---- auth -------------------------------------------------------------------------------
  getNonce(): Promise<NonceResponse> {
    return this.request<NonceResponse>("/auth/nonce", { auth: false });
  }

  async verify(message: string, signature: string, address: string): Promise<StoredSession> {
    const pair = await this.request<TokenPair>("/auth/verify", { method: "POST", auth: false, body: { message, signature } });
    const session = sessionFromTokens(pair, address, this.now());
    this.store.save(session);
    return session;
  }

  async logout(): Promise<void> {
    const session = this.store.load();
    this.store.clear();
    if (!session) return;
    try {
      await this.request<void>("/auth/logout", { method: "POST", auth: false, body: { refresh_token: session.refreshToken } });
    } catch {
      // Logging out locally always succeeds; a failed revoke only shortens nothing.
    }
  }

  // ---- portfolios -------------------------------------------------------------------------
  async listPortfolios(): Promise<Portfolio[]> {
    return asItems<Portfolio>(await this.request("/portfolios")).map(normalizePortfolio);
  }

  async createPortfolio(input: { name: string; addresses: string[]; chains?: number[] }): Promise<Portfolio> {
    return normalizePortfolio(await this.request("/portfolios", { method: "POST", body: input }));
  }

  async updatePortfolio(id: number, patch: { name?: string; addresses?: string[]; chains?: number[] }): Promise<Portfolio> {
    return normalizePortfolio(await this.request(`/portfolios/${id}`, { method: "PATCH", body: patch }));
  }

  deletePortfolio(id: number): Promise<void> {
    return this.request<void>(`/portfolios/${id}`, { method: "DELETE" });
  }

  async getPortfolio(id: number): Promise<PortfolioView> {
    return normalizePortfolioView(await this.request(`/portfolios/${id}`));
  }

  async portfolioHistory(id: number): Promise<PortfolioSnapshot[]> {
    const items = asItems<PortfolioSnapshot>(await this.request(`/portfolios/${id}/history`, { query: { limit: 500 } }));
    return [...items].sort((a, b) => Date.parse(a.taken_at) - Date.parse(b.taken_at));
  }

  // ---- markets ----------------------------------------------------------------------------
  async listMarkets(): Promise<Market[]> {
    return asItems<Market>(await this.request("/markets", { query: { limit: 500 } }));
  }

  async getMarket(id: number): Promise<Market | null> {
    // No single-market route is promised; the list is cached server-side and small.
    return (await this.listMarkets()).find((m) => m.id === id) ?? null;
  }

  async marketHistory(id: number): Promise<MarketRatePoint[]> {
    const items = asItems<MarketRatePoint>(await this.request(`/markets/${id}/history`, { query: { limit: 500 } }));
    return [...items].sort((a, b) => Date.parse(a.observed_at) - Date.parse(b.observed_at));
  }

  // ---- rules ------------------------------------------------------------------------------
  async listRules(): Promise<Rule[]> {
    return asItems<Rule>(await this.request("/rules"));
  }

  getRule(id: number): Promise<Rule> {
    return this.request<Rule>(`/rules/${id}`);
  }

  createRule(input: RuleInput): Promise<Rule> {
    return this.request<Rule>("/rules", { method: "POST", body: input });
  }

  updateRule(id: number, patch: Partial<RuleInput>): Promise<Rule> {
    return this.request<Rule>(`/rules/${id}`, { method: "PATCH", body: patch });
  }

  deleteRule(id: number): Promise<void> {
    return this.request<void>(`/rules/${id}`, { method: "DELETE" });
  }

  testRule(id: number): Promise<RuleTestResult> {
    return this.request<RuleTestResult>(`/rules/${id}/test`, { method: "POST", body: {} });
  }

  async ruleExecutions(id: number): Promise<RuleExecution[]> {
    return asItems<RuleExecution>(await this.request(`/rules/${id}/executions`));
  }

  // ---- notifications ----------------------------------------------------------------------
  async listNotifications(): Promise<AppNotification[]> {
    return asItems<AppNotification>(await this.request("/notifications", { query: { limit: 100 } }));
  }

  // ---- transactions -----------------------------------------------------------------------
  async listTransactions(): Promise<PreparedTransaction[]> {
    return asItems<PreparedTransaction>(await this.request("/transactions"));
  }

  prepareTransaction(input: PrepareTransactionInput): Promise<PreparedTransaction> {
    return this.request<PreparedTransaction>("/transactions/prepare", { method: "POST", body: input });
  }

  /**
   * Records the hash of one step (index into `txs`) sent through the user's wallet; injected
   * wallets sign *and* send (eth_sendTransaction), so the API tracks status by hash.
   */
  recordBroadcast(id: string, index: number, txHash: string): Promise<PreparedTransaction> {
    return this.request<PreparedTransaction>(`/transactions/${id}/broadcast`, {
      method: "POST",
      body: { index, tx_hash: txHash },
    });
  }

  // ---- billing ----------------------------------------------------------------------------
  getBilling(): Promise<BillingState> {
    return this.request<BillingState>("/billing");
  }

  checkout(successUrl: string, cancelUrl: string): Promise<{ url: string }> {
    return this.request<{ url: string }>("/billing/checkout", {
      method: "POST",
      body: { plan: "pro", success_url: successUrl, cancel_url: cancelUrl },
    });
  }

  portal(returnUrl: string): Promise<{ url: string }> {
    return this.request<{ url: string }>("/billing/portal", { method: "POST", body: { return_url: returnUrl } });
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
  const p = raw as Omit<Portfolio, "addresses"> & { addresses?: Array<string | { address: string }> };
  return {
    ...p,
    addresses: (p.addresses ?? []).map((a) => (typeof a === "string" ? a : a.address)),
    chains: p.chains ?? [],
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

export function normalizePortfolioView(raw: unknown): PortfolioView {
  const r = raw as Record<string, unknown>;
  const base = normalizePortfolio(r);
  const positions = asItems<Position>(r.positions);
  const totals = (r.totals ?? {}) as Record<string, unknown>;
  const supplied = (r.supplied_usd ?? totals.supplied_usd ?? positions.reduce((s, p) => s + (toNumber(p.supplied_usd) ?? 0), 0)) as string;
  const borrowed = (r.borrowed_usd ?? totals.borrowed_usd ?? positions.reduce((s, p) => s + (toNumber(p.borrowed_usd) ?? 0), 0)) as string;
  const net = (r.net_worth_usd ?? totals.net_worth_usd ?? (toNumber(supplied) ?? 0) - (toNumber(borrowed) ?? 0)) as string;
  const staleness = Array.isArray(r.staleness)
    ? (r.staleness as PortfolioView["staleness"])
    : r.staleness && typeof r.staleness === "object"
      ? Object.entries(r.staleness as Record<string, Record<string, unknown>>).map(([source, s]) => ({
          source,
          as_of: (s.as_of as string) ?? null,
          age_seconds: (s.age_seconds as number) ?? null,
          stale: Boolean(s.stale),
        }))
      : [];
  return {
    ...base,
    net_worth_usd: net,
    supplied_usd: supplied,
    borrowed_usd: borrowed,
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
