import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useApp } from "../AppContext";
import type { Rule, RuleTestResult } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Async, Empty, ErrorBanner } from "../components/States";
import { formatAge, formatDateTime } from "../format";
import { ACTIONS, TRIGGERS, describeBlock } from "../rules/catalog";
import { errorText, useResource } from "../useResource";

function useToggle() {
  const { api, pushToast } = useApp();
  return async (rule: Rule): Promise<Rule | null> => {
    try {
      const updated = await api.updateRule(rule.id, { enabled: !rule.enabled });
      pushToast({ title: `Rule “${rule.name}” ${updated.enabled ? "enabled" : "disabled"}`, tone: "success" });
      return updated;
    } catch (err) {
      pushToast({ title: "Could not change the rule", body: errorText(err), tone: "error" });
      return null;
    }
  };
}

export function Rules() {
  const { api } = useApp();
  const rules = useResource(() => api.listRules(), [api]);
  const toggle = useToggle();
  return (
    <section>
      <div className="page-header">
        <h1>Rules</h1>
        <Link className="button primary" to="/rules/new">
          New rule
        </Link>
      </div>
      <Async resource={rules} label="Loading rules…">
        {(items) =>
          items.length === 0 ? (
            <Empty title="No rules yet">
              <p>Rules watch markets and your positions and notify you, prepare a transaction or call a webhook.</p>
            </Empty>
          ) : (
            <ul className="cards">
              {items.map((r) => (
                <li key={r.id} className="card" data-testid="rule-card">
                  <h2>
                    <Link to={`/rules/${r.id}`}>{r.name}</Link>
                  </h2>
                  <p>{describeBlock(TRIGGERS, r.trigger)}</p>
                  <p className="muted">
                    {r.enabled ? "Enabled" : `Disabled${r.disabled_reason ? ` (${r.disabled_reason})` : ""}`} · last fired{" "}
                    {formatAge(r.last_fired_at)}
                  </p>
                  <div className="field checkbox">
                    <input
                      id={`rule-toggle-${r.id}`}
                      type="checkbox"
                      role="switch"
                      checked={r.enabled}
                      onChange={async () => {
                        const updated = await toggle(r);
                        if (updated) rules.setData(items.map((x) => (x.id === r.id ? updated : x)));
                      }}
                    />
                    <label htmlFor={`rule-toggle-${r.id}`}>Enabled</label>
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}

export function RuleDetail() {
  const id = Number(useParams().id);
  const { api, pushToast } = useApp();
  const navigate = useNavigate();
  const rule = useResource(() => api.getRule(id), [api, id]);
  const executions = useResource(() => api.ruleExecutions(id), [api, id]);
  const toggle = useToggle();
  const [test, setTest] = useState<{ running: boolean; result?: RuleTestResult; error?: unknown }>({ running: false });
  const [confirming, setConfirming] = useState(false);

  async function runTest() {
    setTest({ running: true });
    try {
      setTest({ running: false, result: await api.testRule(id) });
    } catch (error) {
      setTest({ running: false, error });
    }
  }

  async function remove() {
    try {
      await api.deleteRule(id);
      pushToast({ title: "Rule deleted", tone: "success" });
      navigate("/rules");
    } catch (err) {
      pushToast({ title: "Could not delete the rule", body: errorText(err), tone: "error" });
      setConfirming(false);
    }
  }

  return (
    <section>
      <p>
        <Link to="/rules">← Rules</Link>
      </p>
      <Async resource={rule} label="Loading rule…">
        {(r) => (
          <>
            <div className="page-header">
              <h1>{r.name}</h1>
              <div className="actions">
                <button
                  type="button"
                  onClick={async () => {
                    const updated = await toggle(r);
                    if (updated) rule.setData(updated);
                  }}
                >
                  {r.enabled ? "Disable" : "Enable"}
                </button>
                <button type="button" onClick={() => void runTest()} disabled={test.running}>
                  {test.running ? "Testing…" : "Test now (dry run)"}
                </button>
                <button type="button" className="danger" onClick={() => setConfirming(true)}>
                  Delete
                </button>
              </div>
            </div>
            <dl className="definition">
              <dt>Status</dt>
              <dd>{r.enabled ? "Enabled" : `Disabled${r.disabled_reason ? ` — ${r.disabled_reason}` : ""}`}</dd>
              <dt>When</dt>
              <dd>{describeBlock(TRIGGERS, r.trigger)}</dd>
              {r.conditions?.items.length ? (
                <>
                  <dt>{r.conditions.mode === "all" ? "And all of" : "And any of"}</dt>
                  <dd>
                    <ul>
                      {r.conditions.items.map((c, i) => (
                        <li key={i}>{describeBlock(TRIGGERS, c)}</li>
                      ))}
                    </ul>
                  </dd>
                </>
              ) : null}
              <dt>Then</dt>
              <dd>
                <ul>
                  {r.actions.map((a, i) => (
                    <li key={i}>{describeBlock(ACTIONS, a)}</li>
                  ))}
                </ul>
              </dd>
              <dt>Cadence / cooldown</dt>
              <dd>
                every {r.cadence_seconds} s · cooldown {r.cooldown_seconds} s
              </dd>
              <dt>Last fired</dt>
              <dd>{formatDateTime(r.last_fired_at)}</dd>
              {r.webhook_secret && (
                <>
                  <dt>Webhook signing secret</dt>
                  <dd>
                    <code>{r.webhook_secret}</code>
                  </dd>
                </>
              )}
            </dl>
          </>
        )}
      </Async>
      <div aria-live="polite">
        {test.error != null && <ErrorBanner error={test.error} />}
        {test.result && <DryRunResult result={test.result} />}
      </div>
      <section className="panel">
        <h2>Execution history</h2>
        <Async resource={executions} label="Loading executions…">
          {(items) =>
            items.length === 0 ? (
              <Empty title="Not evaluated yet" />
            ) : (
              <div className="table-wrap" tabIndex={0} role="region" aria-label="Execution history">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Fired</th>
                      <th scope="col">Actions</th>
                      <th scope="col">Error</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((e) => (
                      <tr key={e.id}>
                        <td>{formatDateTime(e.evaluated_at)}</td>
                        <td>{e.fired ? "Yes" : "No"}</td>
                        <td>{(e.actions ?? []).map((a) => String(a.type ?? "")).join(", ") || "—"}</td>
                        <td>{e.error ?? "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </Async>
      </section>
      {confirming && (
        <ConfirmDialog
          title="Delete rule?"
          message="The rule and its execution history will be deleted."
          confirmLabel="Delete rule"
          onConfirm={() => void remove()}
          onCancel={() => setConfirming(false)}
        />
      )}
    </section>
  );
}

/** Why a dry run would (not) fire, in words, from the API's DryRun answer. */
export function dryRunReason(r: RuleTestResult): string {
  if (r.reason) return r.reason;
  if (r.would_fire) return "The trigger matches and the conditions hold.";
  if (r.matched === false) return "The trigger does not match current data.";
  if (r.conditions_ok === false) return "The trigger matches but the extra conditions do not hold.";
  if (r.cooling_down) return "The trigger matches but the rule is cooling down after its last firing.";
  if (r.armed === false) return "The trigger matches but the rule has not re-armed since it last fired (hysteresis).";
  return "";
}

function DryRunResult({ result }: { result: RuleTestResult }) {
  const observed = result.trigger ?? null;
  return (
    <section className="panel" data-testid="test-result">
      <h2>Dry run</h2>
      <p>
        <strong>{result.would_fire ? "Would fire now." : "Would not fire now."}</strong> {dryRunReason(result)}
      </p>
      {result.actions?.length ? (
        <>
          <p>{result.would_fire ? "It would:" : "When it fires, it will:"}</p>
          <ul>
            {result.actions.map((a, i) => (
              <li key={i}>{typeof a === "string" ? a : (a.description ?? a.type)}</li>
            ))}
          </ul>
        </>
      ) : null}
      {observed && <pre className="observed">{JSON.stringify(observed, null, 2)}</pre>}
    </section>
  );
}
