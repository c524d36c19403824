/**
 * A small dependency-free SVG line chart over time. Each series has its own vertical scale
 * (net worth and health factor share time, not value) unless `sharedScale` is set (supply and
 * borrow APY belong on one axis). The latest values are in the caption and the aria-label.
 */
export interface Series {
  label: string;
  color: string;
  points: Array<{ t: number; v: number | null }>;
  format: (v: number) => string;
}

const W = 640;
const H = 220;
const PAD = { top: 16, right: 12, bottom: 28, left: 12 };

export interface Range {
  lo: number;
  hi: number;
}

export function valueRange(series: Series[]): Range | null {
  const values = series.flatMap((s) => s.points.map((p) => p.v)).filter((v): v is number => v !== null && Number.isFinite(v));
  if (!values.length) return null;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    // A flat line sits mid-height rather than on an edge.
    lo -= Math.abs(lo) * 0.05 || 1;
    hi += Math.abs(hi) * 0.05 || 1;
  }
  return { lo, hi };
}

export function scalePoints(points: Array<{ t: number; v: number | null }>, t0: number, t1: number, range?: Range | null): string {
  const r = range ?? valueRange([{ label: "", color: "", format: String, points }]);
  if (!r) return "";
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - r.lo) / (r.hi - r.lo)) * (H - PAD.top - PAD.bottom);
  let d = "";
  let pen = false;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) {
      pen = false; // a gap in the data stays a gap in the line
      continue;
    }
    d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function LineChart({ title, series, sharedScale = false }: { title: string; series: Series[]; sharedScale?: boolean }) {
  const all = series.flatMap((s) => s.points.filter((p) => p.v !== null).map((p) => p.t));
  if (all.length < 2) {
    return <p className="chart-empty">Not enough history yet to draw {title.toLowerCase()}.</p>;
  }
  const t0 = Math.min(...all);
  const t1 = Math.max(...all);
  const shared = sharedScale ? valueRange(series) : null;
  const latest = series.map((s) => {
    const last = [...s.points].reverse().find((p) => p.v !== null);
    return `${s.label} ${last?.v != null ? s.format(last.v) : "—"}`;
  });
  // Axis labels: the shared range, or the first series' range.
  const axis = shared ?? valueRange(series.slice(0, 1));
  const fmt = series[0].format;
  const fmtDate = (t: number) => new Date(t).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  return (
    <figure className="chart">
      <figcaption>
        {title}
        <span className="chart-legend">
          {series.map((s, i) => (
            <span key={s.label} className="legend-item">
              <span className="legend-swatch" style={{ background: s.color }} aria-hidden="true" />
              {latest[i]}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${latest.join("; ")}`} preserveAspectRatio="none">
        <line x1={PAD.left} x2={W - PAD.right} y1={PAD.top} y2={PAD.top} className="grid" />
        <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} className="axis" />
        {series.map((s) => (
          <path key={s.label} d={scalePoints(s.points, t0, t1, shared)} stroke={s.color} fill="none" strokeWidth={2} vectorEffect="non-scaling-stroke" />
        ))}
        {axis && (
          <>
            <text x={W - PAD.right} y={PAD.top - 4} className="tick" textAnchor="end">
              {fmt(axis.hi)}
            </text>
            <text x={W - PAD.right} y={H - PAD.bottom - 4} className="tick" textAnchor="end">
              {fmt(axis.lo)}
            </text>
          </>
        )}
        <text x={PAD.left} y={H - 8} className="tick">
          {fmtDate(t0)}
        </text>
        <text x={W - PAD.right} y={H - 8} className="tick" textAnchor="end">
          {fmtDate(t1)}
        </text>
      </svg>
    </figure>
  );
}
