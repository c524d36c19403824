/**
 * Shapes the dashboard reads from the Tidewatch API. Money and rates may arrive as JSON numbers
 * or as decimal strings (the API keeps Decimal precision); `Num` covers both and is turned into
 * a number only for presentation. Optional fields are ones the API may omit (e.g. the risk
 * forecast before the risk function exists): the UI shows "—" rather than a fake value.
 */
export type Num = number | string;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type?: string;
  /** Access token lifetime in seconds. */
  expires_in?: number;
  user?: { address: string; plan?: string };
}

export interface NonceResponse {
  nonce: string;
  expires_at?: string;
}

export interface Portfolio {
  id: number;
  name: string;
  addresses: string[];
  chains: number[];
  created_at?: string;
  updated_at?: string;
}

export interface RiskForecast {
  /** Probability of liquidation within the horizon, 0..1. */
  probability: number;
  band?: "low" | "medium" | "high" | "critical" | string;
  /** Health factor forecast band (lower / upper quantile). */
  hf_low?: Num | null;
  hf_high?: Num | null;
  horizon_hours?: number;
  model_version?: string;
}

export interface Position {
  address: string;
  chain_id: number;
  protocol: string;
  market_id?: number | null;
  asset_symbol: string;
  supplied_usd: Num;
  borrowed_usd: Num;
  supply_apy?: Num | null;
  borrow_apy?: Num | null;
  health_factor?: Num | null;
  liquidation_price_usd?: Num | null;
  /** Fraction the collateral price may fall before liquidation (0.25 = 25 %). */
  liquidation_buffer?: Num | null;
  risk?: RiskForecast | null;
  as_of?: string | null;
}

export interface Breakdown {
  key: string;
  label: string;
  net_worth_usd: number;
}

export interface SourceStaleness {
  source: string;
  chain_id?: number;
  as_of: string | null;
  age_seconds?: number | null;
  stale: boolean;
}

export interface PortfolioView extends Portfolio {
  net_worth_usd: Num;
  supplied_usd: Num;
  borrowed_usd: Num;
  positions: Position[];
  by_protocol: Breakdown[];
  by_chain: Breakdown[];
  staleness: SourceStaleness[];
}

export interface PortfolioSnapshot {
  taken_at: string;
  net_worth_usd: Num;
  min_health_factor?: Num | null;
}

export interface ApyForecast {
  supply_apy?: Num | null;
  borrow_apy?: Num | null;
  low?: Num | null;
  high?: Num | null;
  horizon_hours?: number;
}

export interface Market {
  id: number;
  chain_id: number;
  protocol: string;
  market_key?: string;
  asset_symbol: string;
  supply_apy: Num | null;
  borrow_apy: Num | null;
  utilization: Num | null;
  tvl_usd: Num | null;
  apy_forecast?: ApyForecast | null;
  observed_at?: string | null;
}

export interface MarketRatePoint {
  observed_at: string;
  supply_apy: Num | null;
  borrow_apy: Num | null;
  utilization?: Num | null;
}

export interface RuleDefinition {
  trigger: Record<string, unknown> & { type: string };
  conditions?: { mode: "all" | "any"; items: Array<Record<string, unknown> & { type: string }> };
  actions: Array<Record<string, unknown> & { type: string }>;
}

export interface Rule {
  id: number;
  name: string;
  portfolio_id: number | null;
  definition: RuleDefinition;
  cadence_seconds: number;
  cooldown_seconds: number;
  enabled: boolean;
  disabled_reason?: string | null;
  last_evaluated_at?: string | null;
  last_fired_at?: string | null;
  created_at?: string;
}

export interface RuleInput {
  name: string;
  portfolio_id: number | null;
  definition: RuleDefinition;
  cadence_seconds: number;
  cooldown_seconds: number;
  enabled: boolean;
}

export interface RuleTestResult {
  would_fire: boolean;
  reason?: string;
  observed?: Record<string, unknown>;
  actions?: Array<{ type: string; description?: string }>;
}

export interface RuleExecution {
  id: number;
  evaluated_at: string;
  fired: boolean;
  observed?: Record<string, unknown>;
  actions?: Array<Record<string, unknown>>;
  error?: string | null;
}

export interface AppNotification {
  id: number;
  kind: string;
  title: string;
  body?: Record<string, unknown> | string | null;
  rule_id?: number | null;
  created_at: string;
  read_at?: string | null;
}

export interface UnsignedTx {
  from: string;
  to: string;
  data: string;
  value: Num;
  chainId: number;
  gas?: Num;
  maxFeePerGas?: Num;
  maxPriorityFeePerGas?: Num;
  nonce?: Num;
  summary?: string;
}

export type TransactionStatus = "prepared" | "submitted" | "confirmed" | "failed" | "replaced";

export interface PreparedTransaction {
  id: string;
  status: TransactionStatus;
  chain_id: number;
  portfolio_id?: number | null;
  rule_id?: number | null;
  summary: string;
  txs: UnsignedTx[];
  tx_hash?: string | null;
  tx_hashes?: string[];
  error?: string | null;
  created_at: string;
  updated_at?: string;
}

export type TxAction = "supply" | "withdraw" | "borrow" | "repay" | "deposit";

export interface PrepareTransactionInput {
  portfolio_id: number;
  chain_id: number;
  from: string;
  protocol: string;
  action: TxAction;
  market_id?: number;
  asset_symbol: string;
  /** Human units ("12.5") or "max". */
  amount: string;
}

export interface Entitlements {
  portfolios?: number;
  rules?: number;
  min_cadence_seconds?: number;
  webhooks?: boolean;
  rate_limit_tier?: string;
}

export interface BillingState {
  plan: "free" | "pro" | string;
  status?: string | null;
  current_period_end?: string | null;
  cancel_at_period_end?: boolean;
  grace_until?: string | null;
  entitlements?: Entitlements;
  usage?: { portfolios?: number; rules?: number };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
