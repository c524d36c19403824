/**
 * Time-series charts on TradingView's lightweight-charts (canvas, ~45 KB gzip, loaded with the
 * first chart rather than at start-up). Each series sits on its own price scale (`scale`: left or
 * right) so supply and borrow APY, or net worth and health factor, each use their own axis; a
 * crosshair shows every series' value at the pointed time; range buttons zoom to the last 24 h,
 * 7 d, 30 d or everything; an optional band (the APY forecast's interval) is drawn after "now".
 * The figure's label states the latest values for screen readers, and `data-points` says how
 * many points each series holds, so tests can tell a drawn chart from an empty frame.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import type { IChartApi, ISeriesApi, Time, UTCTimestamp } from "lightweight-charts";

export interface Point {
  t: number;
  v: number | null;
}

export interface ChartSeries {
  label: string;
  color: string;
  points: Point[];
  format: (v: number) => string;
  scale?: "left" | "right";
}

/** A forecast after the last observation: predicted value with its lower and upper bounds. */
export interface ChartBand {
  label: string;
  color: string;
  scale?: "left" | "right";
  mid: Point[];
  lower: Point[];
  upper: Point[];
}

export const RANGES = [
  { key: "24h", label: "24 h", ms: 86_400_000 },
  { key: "7d", label: "7 d", ms: 7 * 86_400_000 },
  { key: "30d", label: "30 d", ms: 30 * 86_400_000 },
  { key: "all", label: "All", ms: null },
] as const;
export type RangeKey = (typeof RANGES)[number]["key"];

/** Points as the chart wants them: seconds, ascending, one per second, no gaps or non-numbers. */
export function seriesData(points: Point[]): Array<{ time: UTCTimestamp; value: number }> {
  const bySecond = new Map<number, number>();
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v) || !Number.isFinite(p.t)) continue;
    bySecond.set(Math.floor(p.t / 1000), p.v);
  }
  return [...bySecond.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}

/** The time window a range button shows, in seconds; null for "everything". */
export function visibleWindow(range: RangeKey, first: number, last: number, end: number): { from: number; to: number } | null {
  const span = RANGES.find((r) => r.key === range)?.ms ?? null;
  if (span === null) return null;
  return { from: Math.max(first, last - span) / 1000, to: end / 1000 };
}

function latest(points: Point[]): number | null {
  for (let i = points.length - 1; i >= 0; i--) if (points[i].v !== null && Number.isFinite(points[i].v)) return points[i].v;
  return null;
}

export function chartSummary(title: string, series: ChartSeries[], band?: ChartBand | null): string {
  const parts = series.map((s) => {
    const v = latest(s.points);
    return `${s.label} ${v === null ? "no data" : s.format(v)}`;
  });
  const mid = band ? latest(band.mid) : null;
  if (band && mid !== null) {
    const lo = latest(band.lower);
    const hi = latest(band.upper);
    parts.push(`${band.label} ${lo !== null && hi !== null ? `${formatWith(series, band, lo)}–${formatWith(series, band, hi)}` : formatWith(series, band, mid)}`);
  }
  return `${title}: ${parts.join(", ")}`;
}

function formatWith(series: ChartSeries[], band: ChartBand, v: number): string {
  const fmt = series.find((s) => (s.scale ?? "right") === (band.scale ?? "right"))?.format ?? String;
  return fmt(v);
}

export function TimeSeriesChart({ title, series, band, emptyText }: { title: string; series: ChartSeries[]; band?: ChartBand | null; emptyText?: string }) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const [range, setRange] = useState<RangeKey>("all");
  const [drawn, setDrawn] = useState<number[] | null>(null);
  const [hover, setHover] = useState<{ time: number; values: Array<string | null> } | null>(null);
  const [failed, setFailed] = useState<string | null>(null);

  const data = useMemo(() => series.map((s) => seriesData(s.points)), [series]);
  const bandData = useMemo(() => (band ? { mid: seriesData(band.mid), lower: seriesData(band.lower), upper: seriesData(band.upper) } : null), [band]);
  const times = data.flat().map((p) => p.time as number);
  const first = times.length ? Math.min(...times) * 1000 : 0;
  const last = times.length ? Math.max(...times) * 1000 : 0;
  const end = bandData?.upper.length ? Math.max(last, (bandData.upper[bandData.upper.length - 1].time as number) * 1000) : last;
  const total = times.length;
  const readings = Math.max(0, ...data.map((d) => d.length));

  useEffect(() => {
    if (!host.current || total === 0) return;
    let disposed = false;
    let api: IChartApi | null = null;
    import("lightweight-charts")
      .then((lc) => {
        if (disposed || !host.current) return;
        const scales = new Set(series.map((s) => s.scale ?? "right"));
        api = lc.createChart(host.current, {
          autoSize: true,
          // The library's attribution is the text link under the chart (a logo link inside the
          // plot would be a focusable element inside an image for screen readers).
          layout: { background: { color: "transparent" }, textColor: "#334155", fontFamily: "inherit", attributionLogo: false },
          grid: { vertLines: { color: "#eef2f7" }, horzLines: { color: "#eef2f7" } },
          leftPriceScale: { visible: scales.has("left"), borderVisible: false },
          rightPriceScale: { visible: scales.has("right"), borderVisible: false },
          timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
          crosshair: { mode: lc.CrosshairMode.Magnet },
          handleScroll: false,
          handleScale: false,
        });
        chart.current = api;
        const apis: Array<ISeriesApi<"Line">> = series.map((s, i) => {
          const line = api!.addSeries(lc.LineSeries, {
            color: s.color,
            lineWidth: 2,
            priceScaleId: s.scale ?? "right",
            priceFormat: { type: "custom", formatter: s.format, minMove: 0.000001 },
            // Sparse history (a fresh install) is drawn as visible points, not an invisible line.
            pointMarkersVisible: data[i].length < 40,
            title: s.label,
          });
          line.setData(data[i]);
          return line;
        });
        if (band && bandData && bandData.mid.length) {
          const fmt = series.find((s) => (s.scale ?? "right") === (band.scale ?? "right"))?.format ?? String;
          const common = { color: band.color, priceScaleId: band.scale ?? "right", priceFormat: { type: "custom" as const, formatter: fmt, minMove: 0.000001 }, lastValueVisible: false, priceLineVisible: false };
          const style = lc.LineStyle.Dashed;
          api.addSeries(lc.LineSeries, { ...common, lineWidth: 1, lineStyle: style }).setData(bandData.upper);
          api.addSeries(lc.LineSeries, { ...common, lineWidth: 1, lineStyle: style }).setData(bandData.lower);
          api.addSeries(lc.LineSeries, { ...common, lineWidth: 2, lineStyle: lc.LineStyle.Dotted, title: band.label, pointMarkersVisible: true }).setData(bandData.mid);
          // "now": where observations end and the forecast begins.
          const main = apis.find((_, i) => (series[i].scale ?? "right") === (band.scale ?? "right")) ?? apis[0];
          const lastPoint = data[apis.indexOf(main)].at(-1);
          if (lastPoint) lc.createSeriesMarkers(main, [{ time: lastPoint.time, position: "aboveBar", color: "#475569", shape: "arrowDown", text: "now" }]);
        }
        api.subscribeCrosshairMove((param) => {
          if (param.time === undefined || !param.point) return setHover(null);
          setHover({
            time: (param.time as number) * 1000,
            values: apis.map((a, i) => {
              const d = param.seriesData.get(a) as { value?: number } | undefined;
              return d?.value === undefined ? null : series[i].format(d.value);
            }),
          });
        });
        api.timeScale().fitContent();
        setDrawn(apis.map((a) => a.data().length));
      })
      .catch((err: unknown) => setFailed(err instanceof Error ? err.message : String(err)));
    return () => {
      disposed = true;
      api?.remove();
      chart.current = null;
      setDrawn(null);
    };
  }, [series, band, data, bandData, total]);

  useEffect(() => {
    const api = chart.current;
    if (!api || !drawn) return;
    const window = visibleWindow(range, first, last, end);
    if (!window) api.timeScale().fitContent();
    else api.timeScale().setVisibleRange({ from: window.from as Time, to: window.to as Time });
  }, [range, drawn, first, last, end]);

  if (total === 0) return <p className="chart-empty">{emptyText ?? `No history yet to draw ${title.toLowerCase()}.`}</p>;
  const summary = chartSummary(title, series, band);
  return (
    <figure className="chart ts-chart" data-points={drawn ? drawn.join(",") : ""} data-testid={`chart-${title}`}>
      <figcaption>
        <strong>{title}</strong>
        <span className="chart-legend" aria-hidden="true">
          {series.map((s, i) => (
            <span key={s.label}>
              <span className="swatch" style={{ background: s.color }} /> {s.label}
              {hover ? `: ${hover.values[i] ?? "—"}` : ""}
              {s.scale === "left" ? " (left axis)" : series.some((x) => x.scale === "left") ? " (right axis)" : ""}
            </span>
          ))}
          {band && (
            <span>
              <span className="swatch swatch-dashed" style={{ borderColor: band.color }} /> {band.label}
            </span>
          )}
          {hover && <span className="muted">{new Date(hover.time).toLocaleString()}</span>}
        </span>
      </figcaption>
      <div className="range-buttons" role="group" aria-label={`${title} range`}>
        {RANGES.map((r) => (
          <button key={r.key} type="button" aria-pressed={range === r.key} onClick={() => setRange(r.key)}>
            {r.label}
          </button>
        ))}
      </div>
      <div className="ts-plot" ref={host} role="img" aria-label={summary} />
      <p className="chart-credit">
        Chart: <a href="https://www.tradingview.com/lightweight-charts/">TradingView Lightweight Charts™</a>
      </p>
      {readings < 3 && (
        <p className="muted chart-note">
          Only {readings} reading{readings === 1 ? "" : "s"} so far; the chart fills in as history accumulates.
        </p>
      )}
      {failed && (
        <p className="state state-error" role="alert">
          The chart could not be drawn: {failed}
        </p>
      )}
    </figure>
  );
}
