import { describe, expect, it } from "vitest";
import { formatAge, formatHealthFactor, formatPct, formatProbability, formatUsd, healthLevel, toNumber } from "./format";

describe("formatting", () => {
  it("formats decimal strings and numbers as USD", () => {
    expect(formatUsd("1234.5")).toBe("$1,234.50");
    expect(formatUsd(-20)).toBe("-$20.00");
    expect(formatUsd("0.012345")).toBe("$0.0123");
    expect(formatUsd(2_500_000, { compact: true })).toBe("$2.5M");
    expect(formatUsd(null)).toBe("—");
    expect(formatUsd("not a number")).toBe("—");
  });

  it("formats fractions as percentages", () => {
    expect(formatPct("0.0345")).toBe("3.45 %");
    expect(formatPct(0.5, 1)).toBe("50.0 %");
    expect(formatPct(undefined)).toBe("—");
  });

  it("classifies and formats health factors", () => {
    expect(formatHealthFactor("1.2345")).toBe("1.23");
    expect(formatHealthFactor("1e30")).toBe("∞");
    expect(healthLevel(0.98)).toBe("liquidatable");
    expect(healthLevel(1.05)).toBe("danger");
    expect(healthLevel("1.3")).toBe("watch");
    expect(healthLevel(2)).toBe("safe");
    expect(healthLevel(null)).toBe("none");
  });

  it("formats probabilities and ages", () => {
    expect(formatProbability(0.1234)).toBe("12.3 %");
    expect(formatProbability(0.0001)).toBe("< 0.1 %");
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(formatAge("2026-01-01T11:59:30Z", now)).toBe("30 s ago");
    expect(formatAge("2026-01-01T11:00:00Z", now)).toBe("1 h ago");
    expect(formatAge(null, now)).toBe("never");
    expect(toNumber("")).toBeNull();
  });
});
