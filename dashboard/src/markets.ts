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
