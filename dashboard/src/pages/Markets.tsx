import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { useApp } from "../AppContext";
import type { Market } from "../api/types";
import { LineChart } from "../components/LineChart";
import { Async, Empty } from "../components/States";
import { chainName, formatAge, formatPct, formatUsd, protocolName, toNumber } from "../format";
import { EMPTY_FILTER, filterMarkets, sortMarkets, type MarketFilter, type MarketSortKey, type SortDirection } from "../markets";
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
  const [filter, setFilter] = useState<MarketFilter>(EMPTY_FILTER);
  const [sort, setSort] = useState<{ key: MarketSortKey; dir: SortDirection }>({ key: "tvl_usd", dir: "desc" });
  const { reload } = markets;
  useEffect(() => subscribe("markets", () => reload()), [subscribe, reload]);

  return (
    <section>
      <h1>Markets</h1>
      <Async resource={markets} label="Loading markets…">
        {(items) => (
          <MarketTable items={items} filter={filter} setFilter={setFilter} sort={sort} setSort={setSort} />
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
}) {
  const { items, filter, setFilter, sort, setSort } = props;
  const protocols = useMemo(() => [...new Set(items.map((m) => m.protocol))].sort(), [items]);
  const chains = useMemo(() => [...new Set(items.map((m) => m.chain_id))].sort((a, b) => a - b), [items]);
  const rows = useMemo(() => sortMarkets(filterMarkets(items, filter), sort.key, sort.dir), [items, filter, sort]);

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
        <table data-testid="markets-table">
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
            {rows.map((m) => (
              <tr key={m.id}>
                <td>{protocolName(m.protocol)}</td>
                <td>{chainName(m.chain_id)}</td>
                <td>
                  <Link to={`/markets/${m.id}`}>{m.asset_symbol}</Link>
                  {m.stale && (
                    <span className="stale-tag" title={`Last reading ${formatAge(m.observed_at)}`}>
                      {" "}
                      stale
                    </span>
                  )}
                </td>
                <td className="num">{formatPct(m.supply_apy)}</td>
                <td className="num">{formatPct(m.borrow_apy)}</td>
                <td className="num">{formatPct(m.utilization, 1)}</td>
                <td className="num">{formatUsd(m.tvl_usd, { compact: true })}</td>
                <td className="num">{formatPct(m.apy_forecast?.supply_apy ?? null)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <Empty title="No market matches these filters" />}
      </div>
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
          {(points) => (
            <LineChart
              sharedScale
              title="Supply and borrow APY"
              series={[
                { label: "Supply", color: "#059669", format: (v) => formatPct(v), points: points.map((p) => ({ t: Date.parse(p.observed_at), v: toNumber(p.supply_apy) })) },
                { label: "Borrow", color: "#dc2626", format: (v) => formatPct(v), points: points.map((p) => ({ t: Date.parse(p.observed_at), v: toNumber(p.borrow_apy) })) },
              ]}
            />
          )}
        </Async>
      </section>
    </section>
  );
}
