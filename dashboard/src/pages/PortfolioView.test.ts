import { describe, expect, it } from "vitest";
import { withCurrentView } from "./PortfolioView";
import type { PortfolioView } from "../api/types";

const VIEW = { net_worth_usd: "4200.00", min_health_factor: "1.04" } as PortfolioView;
const NOW = Date.parse("2026-01-02T00:00:00Z");

describe("withCurrentView", () => {
  it("ends the history with the view on screen", () => {
    const history = [{ taken_at: "2026-01-01T00:00:00Z", net_worth_usd: "4000", min_health_factor: "1.1" }];
    expect(withCurrentView(history, VIEW, NOW)).toEqual([...history, { taken_at: "2026-01-02T00:00:00.000Z", net_worth_usd: "4200.00", min_health_factor: "1.04" }]);
  });

  it("does not add it twice when its snapshot is already stored", () => {
    const history = [{ taken_at: "2026-01-01T23:59:58Z", net_worth_usd: "4200.00", min_health_factor: "1.04" }];
    expect(withCurrentView(history, VIEW, NOW)).toBe(history);
    expect(withCurrentView(history, undefined, NOW)).toBe(history);
  });
});
