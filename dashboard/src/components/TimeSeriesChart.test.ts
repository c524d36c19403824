import { describe, expect, it } from "vitest";
import { chartSummary, seriesData, visibleWindow } from "./TimeSeriesChart";
import { forecastBand } from "../pages/Markets";
import type { Market } from "../api/types";

const H = 3_600_000;

describe("chart data", () => {
  it("turns points into ascending whole seconds without gaps or duplicates", () => {
    // Given unordered points with a gap, a non-number and two readings in one second
    const points = [
      { t: 3000, v: 3 },
      { t: 1000, v: 1 },
      { t: 2000, v: null },
      { t: 1500, v: 1.5 },
      { t: 4000, v: Number.NaN },
    ];
    // Then the chart gets one value per second, oldest first, the later reading winning
    expect(seriesData(points)).toEqual([
      { time: 1, value: 1.5 },
      { time: 3, value: 3 },
    ]);
  });

  it("zooms the range buttons to the last 24 h / 7 d / 30 d, never before the first point", () => {
    const first = 0;
    const last = 40 * 24 * H;
    expect(visibleWindow("24h", first, last, last)).toEqual({ from: (last - 24 * H) / 1000, to: last / 1000 });
    expect(visibleWindow("30d", first, last, last + H)).toEqual({ from: (last - 30 * 24 * H) / 1000, to: (last + H) / 1000 });
    expect(visibleWindow("7d", last - H, last, last)).toEqual({ from: (last - H) / 1000, to: last / 1000 });
    expect(visibleWindow("all", first, last, last)).toBeNull();
  });

  it("states the latest values and the forecast band for screen readers", () => {
    const pct = (v: number) => `${(v * 100).toFixed(2)} %`;
    const series = [
      { label: "Supply APY", color: "#0a0", format: pct, points: [{ t: 0, v: 0.03 }, { t: H, v: 0.031 }] },
      { label: "Borrow APY", color: "#a00", format: pct, scale: "left" as const, points: [{ t: 0, v: null }] },
    ];
    const band = { label: "Forecast 24 h", color: "#70f", mid: [{ t: H, v: 0.032 }], lower: [{ t: H, v: 0.03 }], upper: [{ t: H, v: 0.034 }] };
    expect(chartSummary("APY", series, band)).toBe("APY: Supply APY 3.10 %, Borrow APY no data, Forecast 24 h 3.00 %–3.40 %");
  });
});

describe("forecastBand", () => {
  const market = { id: 1, chain_id: 1, protocol: "aave-v3", asset_symbol: "USDC", supply_apy: "0.03", borrow_apy: "0.05", utilization: null, tvl_usd: null, observed_at: null } as Market;
  const history = [
    { observed_at: new Date(0).toISOString(), supply_apy: "0.02", borrow_apy: "0.04" },
    { observed_at: new Date(H).toISOString(), supply_apy: "0.03", borrow_apy: null },
  ];

  it("starts at the last observed supply APY ('now') and ends at the horizon's interval", () => {
    const band = forecastBand(history, { ...market, apy_forecast: { supply_apy: 0.035, low: 0.031, high: 0.04, horizon_hours: 24 } });
    expect(band?.mid).toEqual([{ t: H, v: 0.03 }, { t: 25 * H, v: 0.035 }]);
    expect(band?.lower.at(-1)).toEqual({ t: 25 * H, v: 0.031 });
    expect(band?.upper.at(-1)).toEqual({ t: 25 * H, v: 0.04 });
  });

  it("is absent without a forecast or without history", () => {
    expect(forecastBand(history, { ...market, apy_forecast: null })).toBeNull();
    expect(forecastBand([], { ...market, apy_forecast: { supply_apy: 0.035 } })).toBeNull();
  });
});
