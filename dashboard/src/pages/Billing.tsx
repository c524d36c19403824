import { useState } from "react";
import { useSearchParams } from "react-router";
import { useApp } from "../AppContext";
import { Async } from "../components/States";
import { formatDateTime } from "../format";
import { errorText, useResource } from "../useResource";

export function Billing() {
  const { api } = useApp();
  const [params] = useSearchParams();
  const outcome = params.get("checkout");
  // Coming back from Checkout: read the plan again (the webhook may already have landed).
  const billing = useResource(() => api.getBilling(), [api, outcome]);
  const [busy, setBusy] = useState<"checkout" | "portal" | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function go(kind: "checkout" | "portal") {
    setBusy(kind);
    setError(null);
    const here = `${window.location.origin}${window.location.pathname}#/billing`;
    try {
      const { url } = kind === "checkout" ? await api.checkout(`${here}?checkout=success`, `${here}?checkout=cancelled`) : await api.portal(here);
      window.location.assign(url);
    } catch (err) {
      setError(errorText(err));
      setBusy(null);
    }
  }

  return (
    <section>
      <h1>Billing</h1>
      {outcome === "success" && (
        <p className="state state-success" role="status">
          Thank you! Your upgrade is being confirmed; the plan updates within a minute.
        </p>
      )}
      {outcome === "cancelled" && (
        <p className="state" role="status">
          Checkout was cancelled; nothing was charged.
        </p>
      )}
      <Async resource={billing} label="Loading your plan…">
        {(b) => (
          <div className="panel">
            <h2>
              Current plan: <span data-testid="plan">{b.plan === "pro" ? "Pro" : b.plan === "free" ? "Free" : b.plan}</span>
            </h2>
            <dl className="definition">
              {b.status && (
                <>
                  <dt>Status</dt>
                  <dd>{b.status}</dd>
                </>
              )}
              {b.renews_at && (
                <>
                  <dt>Renews</dt>
                  <dd>{formatDateTime(b.renews_at)}</dd>
                </>
              )}
              {b.ends_at && (
                <>
                  <dt>Pro ends</dt>
                  <dd>{formatDateTime(b.ends_at)}</dd>
                </>
              )}
              {b.grace_until && (
                <>
                  <dt>Payment failed; Pro kept until</dt>
                  <dd>{formatDateTime(b.grace_until)}</dd>
                </>
              )}
              {b.entitlements && (
                <>
                  <dt>Portfolios</dt>
                  <dd>up to {b.entitlements.max_portfolios ?? "?"}</dd>
                  <dt>Addresses per portfolio</dt>
                  <dd>up to {b.entitlements.max_addresses_per_portfolio ?? "?"}</dd>
                  <dt>Enabled rules</dt>
                  <dd>up to {b.entitlements.max_rules ?? "?"}</dd>
                  <dt>Fastest rule cadence</dt>
                  <dd>every {b.entitlements.min_rule_cadence_seconds ?? "?"} s</dd>
                  <dt>Webhook actions</dt>
                  <dd>{b.entitlements.webhook_actions ? "Included" : "Not included"}</dd>
                  {b.entitlements.requests_per_minute && (
                    <>
                      <dt>API requests</dt>
                      <dd>{b.entitlements.requests_per_minute} per minute</dd>
                    </>
                  )}
                </>
              )}
            </dl>
            <div className="actions">
              {b.plan !== "pro" && (
                <button type="button" className="primary" onClick={() => void go("checkout")} disabled={busy !== null}>
                  {busy === "checkout" ? "Opening Checkout…" : "Upgrade to Pro"}
                </button>
              )}
              {(b.plan === "pro" || b.status) && (
                <button type="button" onClick={() => void go("portal")} disabled={busy !== null}>
                  {busy === "portal" ? "Opening portal…" : "Manage subscription"}
                </button>
              )}
            </div>
          </div>
        )}
      </Async>
      {error && (
        <p className="state state-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
