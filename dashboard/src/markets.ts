/** Sorting and filtering of the markets table (pure, so it is unit tested). */
import type { Market } from "./api/types";
import { chainName, protocolName, toNumber } from "./format";

export type MarketSortKey = "protocol" | "chain" | "asset" | "supply_apy" | "borrow_apy" | "utilization" | "tvl_usd" | "forecast";
export type SortDirection = "asc" | "desc";

export interface MarketFilter {
  text: string;
  protocol: string; // "" = any
  chainId: number | null;
  minSupplyApy: number | null; // fraction
}

export const EMPTY_FILTER: MarketFilter = { text: "", protocol: "", chainId: null, minSupplyApy: null };

function sortValue(m: Market, key: MarketSortKey): string | number | null {
  switch (key) {
    case "protocol":
      return protocolName(m.protocol).toLowerCase();
    case "chain":
      return chainName(m.chain_id).toLowerCase();
    case "asset":
      return m.asset_symbol.toLowerCase();
    case "forecast":
      return toNumber(m.apy_forecast?.supply_apy ?? null);
    default:
      return toNumber(m[key]);
  }
}

/** Stable sort; missing values always sink to the bottom whatever the direction. */
export function sortMarkets(markets: Market[], key: MarketSortKey, direction: SortDirection): Market[] {
  const sign = direction === "asc" ? 1 : -1;
  return markets
    .map((m, i) => ({ m, i, v: sortValue(m, key) }))
    .sort((a, b) => {
      if (a.v === null && b.v === null) return a.i - b.i;
      if (a.v === null) return 1;
      if (b.v === null) return -1;
      const cmp = typeof a.v === "string" ? a.v.localeCompare(String(b.v)) : a.v - (b.v as number);
      return cmp !== 0 ? sign * cmp : a.i - b.i;
    })
    .map((x) => x.m);
}

export function filterMarkets(markets: Market[], f: MarketFilter): Market[] {
  const needle = f.text.trim().toLowerCase();
  return markets.filter((m) => {
    if (f.protocol && m.protocol !== f.protocol) return false;
    if (f.chainId !== null && m.chain_id !== f.chainId) return false;
    if (f.minSupplyApy !== null && (toNumber(m.supply_apy) ?? -Infinity) < f.minSupplyApy) return false;
    if (needle) {
      const hay = `${m.asset_symbol} ${protocolName(m.protocol)} ${chainName(m.chain_id)}`.toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  });
}

export const PAGE_SIZE = 50;
const SORT_KEYS: MarketSortKey[] = ["protocol", "chain", "asset", "supply_apy", "borrow_apy", "utilization", "tvl_usd", "forecast"];
export const DEFAULT_SORT: { key: MarketSortKey; dir: SortDirection } = { key: "tvl_usd", dir: "desc" };

export interface MarketView {
  filter: MarketFilter;
  sort: { key: MarketSortKey; dir: SortDirection };
  page: number;
}

/** The table's state from the URL (`?q=usdc&protocol=aave-v3&chain=8453&min=2&sort=supply_apy&dir=desc&page=2`). */
export function viewFromParams(params: URLSearchParams): MarketView {
  const chain = Number(params.get("chain"));
  const min = params.get("min");
  const minNumber = min === null || min === "" ? null : Number(min);
  const key = params.get("sort") as MarketSortKey | null;
  const page = Number(params.get("page"));
  return {
    filter: {
      text: params.get("q") ?? "",
      protocol: params.get("protocol") ?? "",
      chainId: Number.isInteger(chain) && chain > 0 ? chain : null,
      minSupplyApy: minNumber !== null && Number.isFinite(minNumber) ? minNumber / 100 : null,
    },
    sort: key && SORT_KEYS.includes(key) ? { key, dir: params.get("dir") === "asc" ? "asc" : "desc" } : DEFAULT_SORT,
    page: Number.isInteger(page) && page > 1 ? page : 1,
  };
}

/** The URL parameters for a table state; defaults are left out so a plain link stays plain. */
export function paramsFromView(view: MarketView): URLSearchParams {
  const p = new URLSearchParams();
  if (view.filter.text) p.set("q", view.filter.text);
  if (view.filter.protocol) p.set("protocol", view.filter.protocol);
  if (view.filter.chainId !== null) p.set("chain", String(view.filter.chainId));
  if (view.filter.minSupplyApy !== null) p.set("min", String(Number((view.filter.minSupplyApy * 100).toPrecision(10))));
  if (view.sort.key !== DEFAULT_SORT.key || view.sort.dir !== DEFAULT_SORT.dir) {
    p.set("sort", view.sort.key);
    p.set("dir", view.sort.dir);
  }
  if (view.page > 1) p.set("page", String(view.page));
  return p;
}
