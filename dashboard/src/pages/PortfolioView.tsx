import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useApp } from "../AppContext";
import { ApiError } from "../api/problem";
import { portfolioFieldKey } from "../api/client";
import type { Breakdown, PortfolioSnapshot, PortfolioView as View, Position } from "../api/types";
import { AddressList } from "../components/AddressList";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { TimeSeriesChart, type ChartSeries } from "../components/TimeSeriesChart";
import { Async, Empty, ErrorBanner, FieldError, Loading } from "../components/States";
import {
  chainName,
  formatAge,
  formatHealthFactor,
  formatPct,
  formatProbability,
  formatUsd,
  healthLevel,
  protocolName,
  shortAddress,
  toNumber,
} from "../format";
import { errorText, useResource } from "../useResource";

export function PortfolioView() {
  const id = Number(useParams().id);
  const { api, subscribe } = useApp();
  const view = useResource(() => api.getPortfolio(id), [api, id]);
  // Read after the view: each view stores a snapshot, and the chart should end with this one.
  const history = useResource(() => (view.data ? api.portfolioHistory(id) : Promise.resolve(undefined)), [api, id, view.data]);
  const points = useMemo(() => withCurrentView(history.data ?? [], view.data), [history.data, view.data]);
  const { reload } = view;

  useEffect(() => subscribe(`portfolio:${id}`, () => reload()), [subscribe, id, reload]);

  if (!Number.isInteger(id)) return <ErrorBanner error={new Error("No such portfolio.")} />;
  return (
    <section>
      <p>
        <Link to="/portfolios">← Portfolios</Link>
      </p>
      <Async resource={view} label="Loading positions…">
        {(v) => (
          <>
            <PortfolioHeader view={v} onChanged={view.reload} />
            <Summary view={v} />
            <div className="grid-2">
              <BreakdownList title="By protocol" rows={v.by_protocol} />
              <BreakdownList title="By chain" rows={v.by_chain} />
            </div>
            <Positions positions={v.positions} />
            <Staleness view={v} />
          </>
        )}
      </Async>
      <section className="panel">
        <h2>History</h2>
        {history.error ? (
          <ErrorBanner error={history.error} onRetry={history.reload} />
        ) : !history.data && (history.loading || view.loading) ? (
          <Loading label="Loading history…" />
        ) : (
          <PortfolioChart points={points} />
        )}
      </section>
    </section>
  );
}

/** Net worth (right axis) and the lowest health factor (left axis) over the stored snapshots. */
function PortfolioChart({ points }: { points: PortfolioSnapshot[] }) {
  const series = useMemo<ChartSeries[]>(
    () => [
      { label: "Net worth", color: "#2563eb", scale: "right", format: (v) => formatUsd(v, { compact: true }), points: points.map((s) => ({ t: Date.parse(s.taken_at), v: toNumber(s.net_worth_usd) })) },
      { label: "Health factor", color: "#d97706", scale: "left", format: formatHealthFactor, points: points.map((s) => ({ t: Date.parse(s.taken_at), v: toNumber(s.min_health_factor ?? null) })) },
    ],
    [points],
  );
  return <TimeSeriesChart title="Net worth and lowest health factor" series={series} emptyText="No snapshots yet: each view of this portfolio records one." />;
}

/**
 * The stored snapshots plus the view on screen as the latest point, unless a snapshot of it is
 * already there (the API may commit the view's snapshot after answering).
 */
export function withCurrentView(history: PortfolioSnapshot[], view: View | undefined, now: number = Date.now()): PortfolioSnapshot[] {
  if (!view) return history;
  const last = history[history.length - 1];
  if (last && now - Date.parse(last.taken_at) < 10_000) return history;
  return [...history, { taken_at: new Date(now).toISOString(), net_worth_usd: view.net_worth_usd, min_health_factor: view.min_health_factor }];
}

function PortfolioHeader({ view, onChanged }: { view: View; onChanged: () => void }) {
  const { api, pushToast } = useApp();
  const navigate = useNavigate();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(view.name);
  const [addresses, setAddresses] = useState(view.addresses);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    if (!name.trim()) return setErrors({ name: "Give the portfolio a name." });
    if (!addresses.length) return setErrors({ addresses: "Keep at least one address." });
    setBusy(true);
    try {
      await api.updatePortfolio(view.id, { name: name.trim(), addresses });
      setEditing(false);
      setErrors({});
      pushToast({ title: "Portfolio saved", tone: "success" });
      onChanged();
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const map: Record<string, string> = {};
        for (const f of err.fieldErrors) map[portfolioFieldKey(f.field)] ??= f.message;
        setErrors(map.name || map.addresses ? map : { ...map, form: err.userMessage });
      } else setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    setBusy(true);
    try {
      await api.deletePortfolio(view.id);
      pushToast({ title: `Deleted “${view.name}”`, tone: "success" });
      navigate("/portfolios");
    } catch (err) {
      pushToast({ title: "Could not delete the portfolio", body: errorText(err), tone: "error" });
      setBusy(false);
      setConfirming(false);
    }
  }

  return (
    <header className="page-header">
      {!editing ? (
        <>
          <h1>{view.name}</h1>
          <p className="muted">{view.addresses.map(shortAddress).join(", ")}</p>
          <div className="actions">
            <button type="button" onClick={() => setEditing(true)}>
              Edit
            </button>
            <button type="button" className="danger" onClick={() => setConfirming(true)}>
              Delete
            </button>
          </div>
        </>
      ) : (
        <form className="panel" onSubmit={(e) => void save(e)} noValidate>
          <label htmlFor="rename">Name</label>
          <input
            id="rename"
            value={name}
            maxLength={100}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={errors.name ? "rename-err" : undefined}
          />
          <FieldError id="rename-err" message={errors.name} />
          <AddressList addresses={addresses} onChange={setAddresses} serverError={errors.addresses} disabled={busy} />
          {errors.form && (
            <p className="state state-error" role="alert">
              {errors.form}
            </p>
          )}
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              Save
            </button>
            <button
              type="button"
              onClick={() => {
                setEditing(false);
                setName(view.name);
                setAddresses(view.addresses);
                setErrors({});
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      )}
      {confirming && (
        <ConfirmDialog
          title="Delete portfolio?"
          message={`“${view.name}” and its history will be deleted.`}
          confirmLabel="Delete portfolio"
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => setConfirming(false)}
        />
      )}
    </header>
  );
}

export function Summary({ view }: { view: View }) {
  const minHf = view.min_health_factor;
  return (
    <dl className="stats">
      <div>
        <dt>Net worth</dt>
        <dd data-testid="net-worth">{formatUsd(view.net_worth_usd)}</dd>
      </div>
      <div>
        <dt>Supplied</dt>
        <dd>{formatUsd(view.supplied_usd)}</dd>
      </div>
      <div>
        <dt>Borrowed</dt>
        <dd>{formatUsd(view.borrowed_usd)}</dd>
      </div>
      <div>
        <dt>Lowest health factor</dt>
        <dd className={`hf hf-${healthLevel(minHf)}`} data-testid="min-hf">
          {minHf === null ? "No debt" : formatHealthFactor(minHf)}
        </dd>
      </div>
    </dl>
  );
}

function BreakdownList({ title, rows }: { title: string; rows: Breakdown[] }) {
  const max = Math.max(1, ...rows.map((r) => Math.abs(r.net_worth_usd)));
  return (
    <section className="panel">
      <h2>{title}</h2>
      {rows.length === 0 ? (
        <p className="muted">Nothing here yet.</p>
      ) : (
        <ul className="bars">
          {rows.map((r) => (
            <li key={r.key}>
              <span className="bar-label">{r.label}</span>
              <span className="bar" aria-hidden="true">
                <span style={{ width: `${(Math.abs(r.net_worth_usd) / max) * 100}%` }} />
              </span>
              <span className="bar-value">{formatUsd(r.net_worth_usd)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function horizonLabel(hours: number): string {
  return hours % 24 === 0 && hours >= 48 ? `${hours / 24} d` : `${hours} h`;
}

export function riskText(p: Position): string {
  if (!p.risk || (toNumber(p.borrowed_usd) === 0 && !toNumber(p.health_factor ?? null))) return "—";
  const band = p.risk.band ? `${p.risk.band} · ` : "";
  const horizons = Object.entries(p.risk.by_horizon ?? {})
    .map(([h, f]) => [Number(h), f.probability] as const)
    .filter(([h]) => Number.isFinite(h))
    .sort((a, b) => a[0] - b[0]);
  if (horizons.length > 1) return band + horizons.map(([h, prob]) => `${formatProbability(prob)} in ${horizonLabel(h)}`).join(", ");
  const horizon = p.risk.horizon_hours ? ` in ${horizonLabel(p.risk.horizon_hours)}` : "";
  return `${band}${formatProbability(p.risk.probability)}${horizon}`;
}

/**
 * Positions: eight columns that fit a 1280 px screen (protocol, chain and address ride with the
 * asset); below 760 px each row becomes a card whose cells carry their column name (data-label).
 */
export function Positions({ positions, emptyText }: { positions: Position[]; emptyText?: string }) {
  return (
    <section className="panel">
      <h2>Positions</h2>
      {positions.length === 0 ? (
        <Empty title="No positions found">
          <p>{emptyText ?? "None of this portfolio's addresses has a position in Aave v3, Compound v3 or EigenLayer on its chains."}</p>
        </Empty>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Positions table">
          <table className="responsive positions">
            <thead>
              <tr>
                <th scope="col">Position</th>
                <th scope="col" className="num">Supplied</th>
                <th scope="col" className="num">Borrowed</th>
                <th scope="col" className="num">Supply / borrow APY</th>
                <th scope="col" className="num">Health factor</th>
                <th scope="col" className="num">Liquidation price, buffer</th>
                <th scope="col">Liquidation risk</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {positions.map((p, i) => (
                <tr key={`${p.chain_id}-${p.protocol}-${p.asset_symbol}-${p.address}-${i}`} data-testid="position-row">
                  <th scope="row" data-label="Position">
                    <strong>{p.asset_symbol}</strong>
                    <span className="sub">
                      {protocolName(p.protocol)} · {chainName(p.chain_id)} · <span title={p.address}>{shortAddress(p.address)}</span>
                    </span>
                  </th>
                  <td className="num" data-label="Supplied">{formatUsd(p.supplied_usd)}</td>
                  <td className="num" data-label="Borrowed">{formatUsd(p.borrowed_usd)}</td>
                  <td className="num" data-label="Supply / borrow APY">
                    {formatPct(p.supply_apy)} / {formatPct(p.borrow_apy)}
                  </td>
                  <td className={`num hf hf-${healthLevel(p.health_factor)}`} data-label="Health factor">{formatHealthFactor(p.health_factor)}</td>
                  <td className="num" data-label="Liquidation price, buffer">
                    {formatUsd(p.liquidation_price_usd)}
                    <span className="sub">{formatPct(p.liquidation_buffer, 1)}</span>
                  </td>
                  <td data-label="Liquidation risk" className="wrap">{riskText(p)}</td>
                  <td data-label="Updated">{formatAge(p.as_of)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Staleness({ view }: { view: View }) {
  if (!view.staleness.length && !view.cache_source) return null;
  return (
    <section className="panel">
      <h2>Data freshness</h2>
      {view.cache_source === "stale" && (
        <p className="state state-error" role="status">
          The chain could not be read just now; these figures are the last good reading.
        </p>
      )}
      <ul className="staleness">
        {view.staleness.map((s) => (
          <li key={`${s.source}-${s.chain_id ?? ""}`} className={s.stale ? "stale" : "fresh"}>
            <span>
              {s.source}
              {s.chain_id ? ` (${chainName(s.chain_id)})` : ""}
            </span>
            <span>
              {s.block_number ? `block ${s.block_number} · ` : ""}
              {formatAge(s.as_of)}
              {s.stale ? " · stale" : ""}
              {s.error ? ` · ${s.error}` : ""}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
