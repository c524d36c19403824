import { useEffect, useMemo } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useApp } from "../AppContext";
import type { Market } from "../api/types";
import { TimeSeriesChart, type ChartBand, type ChartSeries } from "../components/TimeSeriesChart";
import type { MarketRatePoint } from "../api/types";
import { Async, Empty } from "../components/States";
import { chainName, formatAge, formatPct, formatUsd, protocolName, toNumber } from "../format";
import { filterMarkets, PAGE_SIZE, paramsFromView, sortMarkets, viewFromParams, type MarketFilter, type MarketSortKey, type MarketView as TableView, type SortDirection } from "../markets";
import { useResource } from "../useResource";

const COLUMNS: Array<{ key: MarketSortKey; label: string; numeric?: boolean }> = [
  { key: "protocol", label: "Protocol" },
  { key: "chain", label: "Chain" },
  { key: "asset", label: "Asset" },
  { key: "supply_apy", label: "Supply APY", numeric: true },
  { key: "borrow_apy", label: "Borrow APY", numeric: true },
  { key: "utilization", label: "Utilization", numeric: true },
  { key: "tvl_usd", label: "TVL", numeric: true },
  { key: "forecast", label: "APY forecast", numeric: true },
];

export function Markets() {
  const { api, subscribe } = useApp();
  const markets = useResource(() => api.listMarkets(), [api]);
  // Filters, sort and page live in the URL: a filtered view can be bookmarked and shared.
  const [params, setParams] = useSearchParams();
  const view = viewFromParams(params);
  const update = (next: Partial<TableView>) => setParams(paramsFromView({ ...view, page: 1, ...next }), { replace: true });
  const { reload } = markets;
  useEffect(() => subscribe("markets", () => reload()), [subscribe, reload]);

  return (
    <section>
      <h1>Markets</h1>
      <Async resource={markets} label="Loading markets…">
        {(items) => (
          <MarketTable
            items={items}
            filter={view.filter}
            setFilter={(filter) => update({ filter })}
            sort={view.sort}
            setSort={(sort) => update({ sort })}
            page={view.page}
            setPage={(page) => update({ page })}
          />
        )}
      </Async>
    </section>
  );
}

function MarketTable(props: {
  items: Market[];
  filter: MarketFilter;
  setFilter: (f: MarketFilter) => void;
  sort: { key: MarketSortKey; dir: SortDirection };
  setSort: (s: { key: MarketSortKey; dir: SortDirection }) => void;
  page: number;
  setPage: (page: number) => void;
}) {
  const { items, filter, setFilter, sort, setSort, setPage } = props;
  const protocols = useMemo(() => [...new Set(items.map((m) => m.protocol))].sort(), [items]);
  const chains = useMemo(() => [...new Set(items.map((m) => m.chain_id))].sort((a, b) => a - b), [items]);
  const rows = useMemo(() => sortMarkets(filterMarkets(items, filter), sort.key, sort.dir), [items, filter, sort]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const page = Math.min(props.page, pages);
  const shown = rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);

  if (!items.length) return <Empty title="No markets yet">The ingest function has not recorded any market.</Empty>;
  return (
    <>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="market-search">Search</label>
          <input id="market-search" type="search" value={filter.text} placeholder="USDC, Base…" onChange={(e) => setFilter({ ...filter, text: e.target.value })} />
        </div>
        <div>
          <label htmlFor="market-protocol">Protocol</label>
          <select id="market-protocol" value={filter.protocol} onChange={(e) => setFilter({ ...filter, protocol: e.target.value })}>
            <option value="">All</option>
            {protocols.map((p) => (
              <option key={p} value={p}>
                {protocolName(p)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="market-chain">Chain</label>
          <select
            id="market-chain"
            value={filter.chainId ?? ""}
            onChange={(e) => setFilter({ ...filter, chainId: e.target.value ? Number(e.target.value) : null })}
          >
            <option value="">All</option>
            {chains.map((c) => (
              <option key={c} value={c}>
                {chainName(c)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="market-min-apy">Min supply APY (%)</label>
          <input
            id="market-min-apy"
            type="number"
            min={0}
            step={0.1}
            inputMode="decimal"
            value={filter.minSupplyApy === null ? "" : String(Number((filter.minSupplyApy * 100).toPrecision(10)))}
            onChange={(e) => setFilter({ ...filter, minSupplyApy: e.target.value === "" ? null : Number(e.target.value) / 100 })}
          />
        </div>
      </form>
      <p className="muted" role="status" aria-live="polite">
        {rows.length} of {items.length} markets
      </p>
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Markets table">
        <table data-testid="markets-table" className="responsive markets">
          <thead>
            <tr>
              {COLUMNS.map((c) => {
                const active = sort.key === c.key;
                return (
                  <th
                    key={c.key}
                    scope="col"
                    className={c.numeric ? "num" : undefined}
                    aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}
                  >
                    <button
                      type="button"
                      className="sort"
                      onClick={() => setSort({ key: c.key, dir: active && sort.dir === "desc" ? "asc" : active ? "desc" : c.numeric ? "desc" : "asc" })}
                    >
                      {c.label}
                      <span aria-hidden="true">{active ? (sort.dir === "asc" ? " ▲" : " ▼") : ""}</span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {shown.map((m) => (
              <tr key={m.id}>
                <td data-label="Protocol">{protocolName(m.protocol)}</td>
                <td data-label="Chain">{chainName(m.chain_id)}</td>
                <td data-label="Asset">
                  <Link to={`/markets/${m.id}`}>{m.asset_symbol}</Link>
                  {m.stale && (
                    <span className="stale-tag" title={`Last reading ${formatAge(m.observed_at)}`}>
                      {" "}
                      stale
                    </span>
                  )}
                </td>
                <td className="num" data-label="Supply APY">{formatPct(m.supply_apy)}</td>
                <td className="num" data-label="Borrow APY">{formatPct(m.borrow_apy)}</td>
                <td className="num" data-label="Utilization">{formatPct(m.utilization, 1)}</td>
                <td className="num" data-label="TVL">{formatUsd(m.tvl_usd, { compact: true })}</td>
                <td className="num" data-label="APY forecast" title={m.apy_forecast ? undefined : "No forecast yet: the model needs about a day of history"}>
                  {formatPct(m.apy_forecast?.supply_apy ?? null)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <Empty title="No market matches these filters" />}
      </div>
      {pages > 1 && (
        <nav className="pager" aria-label="Markets pages">
          <button type="button" onClick={() => setPage(page - 1)} disabled={page <= 1}>
            Previous
          </button>
          <span>
            Page {page} of {pages}
          </span>
          <button type="button" onClick={() => setPage(page + 1)} disabled={page >= pages}>
            Next
          </button>
        </nav>
      )}
    </>
  );
}

export function MarketView() {
  const id = Number(useParams().id);
  const { api } = useApp();
  const market = useResource(() => api.getMarket(id), [api, id]);
  const history = useResource(() => api.marketHistory(id), [api, id]);
  return (
    <section>
      <p>
        <Link to="/markets">← Markets</Link>
      </p>
      <Async resource={market} label="Loading market…">
        {(m) =>
          m === null ? (
            <Empty title="Market not found" />
          ) : (
            <>
              <h1>
                {m.asset_symbol} · {protocolName(m.protocol)} · {chainName(m.chain_id)}
              </h1>
              <dl className="stats">
                <div>
                  <dt>Supply APY</dt>
                  <dd>{formatPct(m.supply_apy)}</dd>
                </div>
                <div>
                  <dt>Borrow APY</dt>
                  <dd>{formatPct(m.borrow_apy)}</dd>
                </div>
                <div>
                  <dt>Utilization</dt>
                  <dd>{formatPct(m.utilization, 1)}</dd>
                </div>
                <div>
                  <dt>TVL</dt>
                  <dd>{formatUsd(m.tvl_usd, { compact: true })}</dd>
                </div>
                <div>
                  <dt>Forecast supply APY</dt>
                  <dd>
                    {formatPct(m.apy_forecast?.supply_apy ?? null)}
                    {m.apy_forecast?.low != null && m.apy_forecast?.high != null && (
                      <small>
                        {" "}
                        ({formatPct(m.apy_forecast.low)}–{formatPct(m.apy_forecast.high)})
                      </small>
                    )}
                  </dd>
                </div>
                <div>
                  <dt>Updated</dt>
                  <dd className={m.stale ? "stale" : undefined}>
                    {formatAge(m.observed_at)}
                    {m.stale ? " · stale" : ""}
                  </dd>
                </div>
              </dl>
            </>
          )
        }
      </Async>
      <section className="panel">
        <h2>Rate history</h2>
        <Async resource={history} label="Loading rate history…">
          {(points) => <RateChart points={points} market={market.data ?? null} />}
        </Async>
      </section>
    </section>
  );
}

const pct = (v: number) => formatPct(v);

/** The forecast band: from the last observed supply APY to the predicted one `horizon_hours` later. */
export function forecastBand(points: MarketRatePoint[], market: Market | null): ChartBand | null {
  const f = market?.apy_forecast;
  const last = [...points].reverse().find((p) => toNumber(p.supply_apy) !== null);
  const mid = toNumber(f?.supply_apy ?? null);
  if (!f || !last || mid === null) return null;
  const t0 = Date.parse(last.observed_at);
  const v0 = toNumber(last.supply_apy)!;
  const t1 = t0 + (f.horizon_hours ?? 24) * 3_600_000;
  const lo = toNumber(f.low ?? null) ?? mid;
  const hi = toNumber(f.high ?? null) ?? mid;
  return {
    label: `Forecast ${f.horizon_hours ?? 24} h`,
    color: "#7c3aed",
    scale: "right",
    mid: [{ t: t0, v: v0 }, { t: t1, v: mid }],
    lower: [{ t: t0, v: v0 }, { t: t1, v: lo }],
    upper: [{ t: t0, v: v0 }, { t: t1, v: hi }],
  };
}

function RateChart({ points, market }: { points: MarketRatePoint[]; market: Market | null }) {
  const series = useMemo<ChartSeries[]>(
    () => [
      { label: "Supply APY", color: "#059669", format: pct, scale: "right", points: points.map((p) => ({ t: Date.parse(p.observed_at), v: toNumber(p.supply_apy) })) },
      { label: "Borrow APY", color: "#dc2626", format: pct, scale: "left", points: points.map((p) => ({ t: Date.parse(p.observed_at), v: toNumber(p.borrow_apy) })) },
    ],
    [points],
  );
  const band = useMemo(() => forecastBand(points, market), [points, market]);
  return (
    <>
      <TimeSeriesChart
        title="Supply and borrow APY"
        series={series}
        band={band}
        emptyText="No rate history yet: the first reading appears after the next ingest (every minute)."
      />
      {!band && <p className="muted">No APY forecast yet: the model needs about a day of this market's history.</p>}
    </>
  );
}
