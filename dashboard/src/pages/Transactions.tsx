import { useEffect, useMemo, useState } from "react";
import { useApp } from "../AppContext";
import { ApiError } from "../api/problem";
import type { Market, Portfolio, PreparedTransaction, TxAction } from "../api/types";
import { Async, Empty, FieldError } from "../components/States";
import { chainName, formatDateTime, protocolName, shortAddress } from "../format";
import { errorText, useResource } from "../useResource";
import { useConfig, useConnectors } from "wagmi";
import { connect, getConnection } from "wagmi/actions";
import { walletErrorMessage } from "../wallet/errors";
import { signOrSend } from "../wallet/transactions";
import { walletChoices } from "./SignIn";

const STATUS_LABEL: Record<string, string> = {
  prepared: "Awaiting signature",
  submitted: "Submitted",
  confirmed: "Confirmed",
  failed: "Failed",
  replaced: "Replaced",
};

const STEP_LABEL: Record<string, string> = { prepared: "to sign", submitted: "sent", confirmed: "confirmed", failed: "failed", replaced: "replaced" };

/** Polling interval while something is in flight; the WebSocket usually beats it. */
const POLL_MS = 4000;

export function Transactions() {
  const { api, subscribe } = useApp();
  const txs = useResource(() => api.listTransactions(), [api]);
  const { reload, data } = txs;
  const inFlight = (data ?? []).some((t) => t.status === "submitted");

  useEffect(() => {
    const offs = [subscribe("notifications", (m) => m.type.startsWith("transaction") && reload())];
    return () => offs.forEach((off) => off());
  }, [subscribe, reload]);
  useEffect(() => {
    if (!inFlight) return;
    const timer = window.setInterval(reload, POLL_MS);
    return () => window.clearInterval(timer);
  }, [inFlight, reload]);

  return (
    <section>
      <h1>Transactions</h1>
      <PrepareForm onPrepared={reload} />
      <Async resource={txs} label="Loading transactions…">
        {(items) =>
          items.length === 0 ? (
            <Empty title="No transactions">
              <p>Prepare one above, or let a rule prepare one for you to sign.</p>
            </Empty>
          ) : (
            <ul className="cards wide">
              {items.map((t) => (
                <TransactionCard key={t.id} tx={t} onChanged={reload} />
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}

function TransactionCard({ tx, onChanged }: { tx: PreparedTransaction; onChanged: () => void }) {
  const { api, pushToast } = useApp();
  const [progress, setProgress] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const wagmi = useConfig();
  const connectors = useConnectors();

  async function signAndSend() {
    setError(null);
    try {
      let connection = getConnection(wagmi);
      if (connection.status !== "connected") {
        const choice = walletChoices(connectors)[0];
        if (!choice) {
          setError("Connect a wallet to sign: no browser wallet was detected (WalletConnect: sign in with it first).");
          return;
        }
        setProgress("Connect your wallet…");
        await connect(wagmi, { connector: choice });
        connection = getConnection(wagmi);
      }
      const account = connection.address ?? "";
      const from = tx.txs[0]?.from;
      if (from && account.toLowerCase() !== from.toLowerCase()) {
        setError(`Switch your wallet to ${shortAddress(from)}: this transaction is sent from that address.`);
        return;
      }
      for (let i = 0; i < tx.txs.length; i++) {
        // Steps run in order (an approve before its supply); each hash is recorded at once so
        // status tracking survives a closed tab mid-sequence.
        if (tx.txs[i].status && tx.txs[i].status !== "prepared") continue; // sent in an earlier attempt
        setProgress(`Confirm step ${i + 1} of ${tx.txs.length} in your wallet…`);
        const signed = await signOrSend(wagmi, tx.txs[i]);
        setProgress(`Sending step ${i + 1}…`);
        await api.recordBroadcast(tx.id, signed.kind === "raw" ? { rawTransaction: signed.rawTransaction } : { txHash: signed.txHash });
      }
      pushToast({ title: "Transaction sent", body: tx.summary, tone: "success" });
    } catch (err) {
      setError(err instanceof ApiError ? err.userMessage : walletErrorMessage(err));
    } finally {
      setProgress(null);
      onChanged();
    }
  }

  return (
    <li className="card" data-testid="transaction-card">
      <h2>{tx.summary}</h2>
      <p>
        <span className={`status status-${tx.status}`} data-testid="tx-status">
          {STATUS_LABEL[tx.status] ?? tx.status}
        </span>{" "}
        · {chainName(tx.chain_id)} · {formatDateTime(tx.created_at)}
      </p>
      <ol className="steps">
        {tx.txs.map((step, i) => (
          <li key={i}>
            {step.summary ?? `Call ${shortAddress(step.to)}`} <span className="muted">from {shortAddress(step.from)}</span>
            {step.status && tx.txs.length > 1 && <span className={`status status-${step.status}`}>{STEP_LABEL[step.status] ?? step.status}</span>}
          </li>
        ))}
      </ol>
      {tx.tx_hash && (
        <p className="muted">
          Hash <code>{shortAddress(tx.tx_hash)}</code>
        </p>
      )}
      {tx.error && <p className="field-error">{tx.error}</p>}
      {tx.status === "prepared" && (
        <button type="button" className="primary" onClick={() => void signAndSend()} disabled={progress !== null}>
          Sign and send
        </button>
      )}
      <p role="status" aria-live="polite">
        {progress}
      </p>
      {error && (
        <p className="state state-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

const ACTIONS_BY_PROTOCOL: Record<string, TxAction[]> = {
  "aave-v3": ["supply", "withdraw", "borrow", "repay"],
  "compound-v3": ["supply", "withdraw"],
  eigenlayer: ["deposit"],
};

function PrepareForm({ onPrepared }: { onPrepared: () => void }) {
  const { api, pushToast } = useApp();
  const data = useResource(async () => {
    const [portfolios, markets] = await Promise.all([api.listPortfolios(), api.listMarkets()]);
    return { portfolios, markets };
  }, [api]);
  return (
    <details className="panel" open>
      <summary>
        <h2>Prepare a transaction</h2>
      </summary>
      <Async resource={data} label="Loading portfolios and markets…">
        {(d) =>
          d.portfolios.length === 0 ? (
            <p className="muted">Create a portfolio first: transactions are sent from its addresses.</p>
          ) : (
            <PrepareFields
              portfolios={d.portfolios}
              markets={d.markets}
              onSubmit={async (input) => {
                const tx = await api.prepareTransaction(input);
                pushToast({ title: "Transaction prepared", body: tx.summary, tone: "success" });
                onPrepared();
              }}
            />
          )
        }
      </Async>
    </details>
  );
}

function PrepareFields(props: {
  portfolios: Portfolio[];
  markets: Market[];
  onSubmit: (input: Parameters<ReturnType<typeof useApp>["api"]["prepareTransaction"]>[0]) => Promise<void>;
}) {
  const [portfolioId, setPortfolioId] = useState(String(props.portfolios[0].id));
  const portfolio = props.portfolios.find((p) => String(p.id) === portfolioId) ?? props.portfolios[0];
  const [from, setFrom] = useState(portfolio.addresses[0] ?? "");
  const [marketId, setMarketId] = useState(props.markets[0] ? String(props.markets[0].id) : "");
  const market = props.markets.find((m) => String(m.id) === marketId);
  const actions = useMemo(() => (market ? (ACTIONS_BY_PROTOCOL[market.protocol] ?? ["supply"]) : []), [market]);
  const [action, setAction] = useState<TxAction>("supply");
  const [amount, setAmount] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!portfolio.addresses.includes(from)) setFrom(portfolio.addresses[0] ?? "");
  }, [portfolio, from]);
  useEffect(() => {
    if (actions.length && !actions.includes(action)) setAction(actions[0]);
  }, [actions, action]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!market) local.market_id = "Choose a market.";
    if (!from) local.from = "Choose an address.";
    if (!/^(max|\d+(\.\d+)?)$/i.test(amount.trim()) || (amount.trim() !== "max" && Number(amount) <= 0)) local.amount = "Enter a positive amount, or “max”.";
    setErrors(local);
    if (Object.keys(local).length || !market) return;
    setBusy(true);
    try {
      await props.onSubmit({
        portfolio_id: portfolio.id,
        intent: {
          chain_id: market.chain_id,
          protocol: market.protocol,
          action,
          from,
          asset: market.asset_symbol,
          amount: amount.trim().toLowerCase(),
          // Compound names its Comet, EigenLayer its strategy; Aave needs only the asset.
          ...(market.protocol !== "aave-v3" && market.market_key ? { market: market.market_key } : {}),
        },
      });
      setAmount("");
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const map: Record<string, string> = {};
        for (const f of err.fieldErrors) {
          const key = f.field.replace(/^intent\./, "").split(".")[0];
          map[key === "market" ? "market_id" : key] ??= f.message;
        }
        setErrors(map);
        if (!Object.keys(map).some((k) => ["from", "market_id", "action", "amount"].includes(k))) setErrors({ ...map, form: err.userMessage });
      } else setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="prepare-form" onSubmit={(e) => void submit(e)} noValidate>
      <div className="field">
        <label htmlFor="tx-portfolio">Portfolio</label>
        <select id="tx-portfolio" value={portfolioId} onChange={(e) => setPortfolioId(e.target.value)}>
          {props.portfolios.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="tx-from">From address</label>
        <select id="tx-from" value={from} onChange={(e) => setFrom(e.target.value)} aria-invalid={errors.from ? true : undefined} aria-describedby="tx-from-err">
          {portfolio.addresses.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <FieldError id="tx-from-err" message={errors.from} />
      </div>
      <div className="field">
        <label htmlFor="tx-market">Market</label>
        <select id="tx-market" value={marketId} onChange={(e) => setMarketId(e.target.value)} aria-invalid={errors.market_id ? true : undefined} aria-describedby="tx-market-err">
          {props.markets.map((m) => (
            <option key={m.id} value={m.id}>
              {m.asset_symbol} · {protocolName(m.protocol)} · {chainName(m.chain_id)}
            </option>
          ))}
        </select>
        <FieldError id="tx-market-err" message={errors.market_id} />
      </div>
      <div className="field">
        <label htmlFor="tx-action">Action</label>
        <select id="tx-action" value={action} onChange={(e) => setAction(e.target.value as TxAction)}>
          {actions.map((a) => (
            <option key={a} value={a}>
              {a[0].toUpperCase() + a.slice(1)}
            </option>
          ))}
        </select>
        <FieldError id="tx-action-err" message={errors.action} />
      </div>
      <div className="field">
        <label htmlFor="tx-amount">Amount{market ? ` (${market.asset_symbol})` : ""}</label>
        <input
          id="tx-amount"
          inputMode="decimal"
          value={amount}
          placeholder="e.g. 100 or max"
          onChange={(e) => setAmount(e.target.value)}
          aria-invalid={errors.amount ? true : undefined}
          aria-describedby="tx-amount-err"
        />
        <FieldError id="tx-amount-err" message={errors.amount} />
      </div>
      {errors.form && (
        <p className="state state-error" role="alert">
          {errors.form}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Preparing…" : "Prepare"}
      </button>
    </form>
  );
}
