import { describe, expect, it } from "vitest";
import type { Market } from "./api/types";
import { EMPTY_FILTER, filterMarkets, paramsFromView, sortMarkets, viewFromParams } from "./markets";

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

describe("market table URL", () => {
  it("keeps filters, sort and page in the URL and reads them back", () => {
    // Given a filtered, sorted second page
    const view = { filter: { text: "usdc", protocol: "aave-v3", chainId: 8453, minSupplyApy: 0.025 }, sort: { key: "supply_apy" as const, dir: "asc" as const }, page: 2 };
    // When it is written to the URL and read back
    const params = paramsFromView(view);
    expect(params.toString()).toBe("q=usdc&protocol=aave-v3&chain=8453&min=2.5&sort=supply_apy&dir=asc&page=2");
    // Then it is the same view
    expect(viewFromParams(params)).toEqual(view);
  });

  it("leaves defaults out and ignores junk", () => {
    expect(paramsFromView(viewFromParams(new URLSearchParams())).toString()).toBe("");
    const junk = viewFromParams(new URLSearchParams("chain=abc&min=x&sort=drop&page=-3"));
    expect(junk).toEqual({ filter: { text: "", protocol: "", chainId: null, minSupplyApy: null }, sort: { key: "tvl_usd", dir: "desc" }, page: 1 });
  });
});
