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
  refresh_expires_at?: string;
  user?: { id?: number; address: string; plan?: string };
}

export interface NonceResponse {
  nonce: string;
  /** Seconds the nonce stays valid. */
  expires_in?: number;
}

/** The UI's portfolio: the API's `wallets: [{address, label}]` flattened to `addresses`. */
export interface Portfolio {
  id: number;
  name: string;
  addresses: string[];
  chains: number[];
  created_at?: string;
  updated_at?: string;
}

/** The risk function's forecast for one position (tidewatch.forecast.payloads.RiskForecast). */
export interface RiskForecast {
  /** Probability of liquidation (HF < 1) within the horizon, 0..1. */
  probability: number;
  band?: "low" | "medium" | "high" | "critical" | string;
  /** Fractional drop of the volatile collateral prices that brings HF to 1. */
  distance_to_liquidation?: number | null;
  health_factor?: number | null;
  horizon_hours?: number;
  model_version?: string;
  position_id?: string | null;
  /** Forecasts per horizon ("24", "168"), when the API gives several. */
  by_horizon?: Record<string, { probability: number; band?: string; distance_to_liquidation?: number | null }>;
}

export interface Position {
  address: string;
  chain_id: number;
  protocol: string;
  /** Market key: reserve / comet / strategy address. */
  market?: string;
  asset_decimals?: number;
  /** Base units. */
  supplied?: number | string;
  borrowed?: number | string;
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
  block_number?: number | null;
  stale: boolean;
  error?: string | null;
}

export interface PortfolioView extends Portfolio {
  net_worth_usd: Num;
  supplied_usd: Num;
  borrowed_usd: Num;
  min_health_factor: Num | null;
  /** Where the view came from: "cache", "origin" or "stale" (origin failed). */
  cache_source?: string | null;
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

/** The UI's market: the API's `latest` rate flattened in, TVL derived in USD. */
export interface Market {
  id: number;
  chain_id: number;
  protocol: string;
  market_key?: string;
  asset_symbol: string;
  asset_address?: string;
  asset_decimals?: number;
  supply_apy: Num | null;
  borrow_apy: Num | null;
  utilization: Num | null;
  tvl_usd: Num | null;
  apy_forecast?: ApyForecast | null;
  observed_at?: string | null;
  /** The latest reading is older than the API's staleness limit. */
  stale?: boolean;
}

export interface MarketRatePoint {
  observed_at: string;
  supply_apy: Num | null;
  borrow_apy: Num | null;
  utilization?: Num | null;
}

export type RuleBlock = Record<string, unknown> & { type: string };

/** A rule as written (docs/rule.schema.json): trigger, optional conditions, actions. */
export interface RuleDefinition {
  trigger: RuleBlock;
  conditions?: { mode: "all" | "any"; items: RuleBlock[] } | null;
  actions: RuleBlock[];
}

export interface Rule extends RuleDefinition {
  id: number;
  name: string;
  portfolio_id: number | null;
  cadence_seconds: number;
  cooldown_seconds: number;
  enabled: boolean;
  disabled_reason?: string | null;
  armed?: boolean;
  last_evaluated_at?: string | null;
  last_fired_at?: string | null;
  created_at?: string;
  /** Returned for rules with a webhook action, to verify the HMAC signatures. */
  webhook_secret?: string | null;
}

export interface RuleInput extends RuleDefinition {
  name: string;
  portfolio_id: number | null;
  cadence_seconds: number;
  cooldown_seconds: number;
  enabled: boolean;
}

export interface RuleTestResult {
  would_fire: boolean;
  matched?: boolean;
  armed?: boolean;
  cooling_down?: boolean;
  conditions_ok?: boolean;
  trigger?: Record<string, unknown>;
  conditions?: Array<Record<string, unknown>>;
  /** What would happen, in words. */
  actions?: Array<string | { type: string; description?: string }>;
  reason?: string;
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

/** One step, ready for eth_sendTransaction (quantities may be hex strings or decimals). */
export interface UnsignedTx {
  from: string;
  to: string;
  data: string;
  value: Num;
  chainId: number;
  status?: TransactionStatus;
  hash?: string | null;
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

/** What the user wants done (the wallet function's Intent). */
export interface TransactionIntent {
  chain_id: number;
  protocol: string;
  action: TxAction;
  from: string;
  /** Token symbol or address. */
  asset: string;
  /** Human units ("12.5") or "max". */
  amount: string;
  /** Compound: the Comet address; EigenLayer: the strategy address. */
  market?: string;
  speed?: "slow" | "normal" | "fast";
}

export interface PrepareTransactionInput {
  portfolio_id: number;
  intent: TransactionIntent;
}

export interface Entitlements {
  max_portfolios?: number;
  max_addresses_per_portfolio?: number;
  max_rules?: number;
  min_rule_cadence_seconds?: number;
  webhook_actions?: boolean;
  rate_limit_tier?: string;
  requests_per_minute?: number;
}

export interface BillingState {
  plan: "free" | "pro" | string;
  status?: string | null;
  renews_at?: string | null;
  ends_at?: string | null;
  grace_until?: string | null;
  entitlements?: Entitlements;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
