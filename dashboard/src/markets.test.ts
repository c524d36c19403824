import { describe, expect, it } from "vitest";
import type { Market } from "./api/types";
import { EMPTY_FILTER, filterMarkets, sortMarkets } from "./markets";

const m = (id: number, protocol: string, chain_id: number, asset_symbol: string, supply_apy: string | null, tvl_usd: number | null): Market => ({
  id,
  protocol,
  chain_id,
  asset_symbol,
  supply_apy,
  borrow_apy: null,
  utilization: null,
  tvl_usd,
});

const MARKETS = [
  m(1, "aave-v3", 1, "USDC", "0.041", 5e8),
  m(2, "compound-v3", 1, "USDC", "0.052", 2e8),
  m(3, "aave-v3", 8453, "WETH", "0.018", null),
  m(4, "eigenlayer", 1, "stETH", null, 9e8),
];

describe("sortMarkets", () => {
  it("sorts numbers in both directions with missing values last", () => {
    expect(sortMarkets(MARKETS, "supply_apy", "desc").map((x) => x.id)).toEqual([2, 1, 3, 4]);
    expect(sortMarkets(MARKETS, "supply_apy", "asc").map((x) => x.id)).toEqual([3, 1, 2, 4]);
    expect(sortMarkets(MARKETS, "tvl_usd", "asc").map((x) => x.id)).toEqual([2, 1, 4, 3]);
  });

  it("sorts text by display name and keeps ties stable", () => {
    expect(sortMarkets(MARKETS, "protocol", "asc").map((x) => x.id)).toEqual([1, 3, 2, 4]);
    expect(sortMarkets(MARKETS, "asset", "asc").map((x) => x.id)).toEqual([4, 1, 2, 3]);
  });
});

describe("filterMarkets", () => {
  it("filters by text over asset, protocol and chain names", () => {
    expect(filterMarkets(MARKETS, { ...EMPTY_FILTER, text: "usdc" }).map((x) => x.id)).toEqual([1, 2]);
    expect(filterMarkets(MARKETS, { ...EMPTY_FILTER, text: "base" }).map((x) => x.id)).toEqual([3]);
    expect(filterMarkets(MARKETS, { ...EMPTY_FILTER, text: "compound" }).map((x) => x.id)).toEqual([2]);
  });

  it("combines protocol, chain and minimum APY filters", () => {
    expect(filterMarkets(MARKETS, { ...EMPTY_FILTER, protocol: "aave-v3", chainId: 1 }).map((x) => x.id)).toEqual([1]);
    expect(filterMarkets(MARKETS, { ...EMPTY_FILTER, minSupplyApy: 0.045 }).map((x) => x.id)).toEqual([2]);
  });
});
