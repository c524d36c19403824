import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { LineChart, scalePoints, valueRange } from "./LineChart";

describe("LineChart", () => {
  it("scales points into the plot area and keeps gaps as gaps", () => {
    const d = scalePoints(
      [
        { t: 0, v: 0 },
        { t: 1, v: 10 },
        { t: 2, v: null },
        { t: 3, v: 5 },
      ],
      0,
      3,
    );
    expect(d).toBe("M12.0,192.0L217.3,16.0M628.0,104.0");
  });

  it("shares one value range across series when asked", () => {
    const a = { label: "Supply", color: "#000", format: String, points: [{ t: 0, v: 0.02 }, { t: 1, v: 0.03 }] };
    const b = { label: "Borrow", color: "#f00", format: String, points: [{ t: 0, v: 0.05 }, { t: 1, v: 0.06 }] };
    expect(valueRange([a, b])).toEqual({ lo: 0.02, hi: 0.06 });
    // A flat series still gets a non-empty range
    expect(valueRange([{ ...a, points: [{ t: 0, v: 2 }, { t: 1, v: 2 }] }])).toEqual({ lo: 1.9, hi: 2.1 });
  });

  it("describes the latest values for screen readers, or says there is too little data", () => {
    const { rerender } = render(
      <LineChart title="Net worth" series={[{ label: "Net worth", color: "#00f", format: (v) => `$${v}`, points: [{ t: 0, v: 1 }, { t: 1, v: 2 }] }]} />,
    );
    expect(screen.getByRole("img", { name: "Net worth: Net worth $2" })).toBeInTheDocument();
    rerender(<LineChart title="Net worth" series={[{ label: "Net worth", color: "#00f", format: String, points: [{ t: 0, v: 1 }] }]} />);
    expect(screen.getByText("Not enough history yet to draw net worth.")).toBeInTheDocument();
  });
});
