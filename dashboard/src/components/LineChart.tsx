/**
 * A small dependency-free SVG line chart: one or more series over time, each with its own
 * scale (net worth and health factor share an axis of time, not of value).
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

export function scalePoints(points: Array<{ t: number; v: number | null }>, t0: number, t1: number): string {
  const values = points.map((p) => p.v).filter((v): v is number => v !== null && Number.isFinite(v));
  if (!values.length) return "";
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.05 || 1;
    hi += Math.abs(hi) * 0.05 || 1;
  }
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
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

export function LineChart({ title, series }: { title: string; series: Series[] }) {
  const all = series.flatMap((s) => s.points.map((p) => p.t));
  if (all.length < 2) {
    return <p className="chart-empty">Not enough history yet to draw {title.toLowerCase()}.</p>;
  }
  const t0 = Math.min(...all);
  const t1 = Math.max(...all);
  const latest = series.map((s) => {
    const last = [...s.points].reverse().find((p) => p.v !== null);
    return `${s.label} ${last?.v != null ? s.format(last.v) : "—"}`;
  });
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
        <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} className="axis" />
        {series.map((s) => (
          <path key={s.label} d={scalePoints(s.points, t0, t1)} stroke={s.color} fill="none" strokeWidth={2} vectorEffect="non-scaling-stroke" />
        ))}
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
