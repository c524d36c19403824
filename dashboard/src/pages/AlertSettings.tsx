import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { useApp } from "../AppContext";
import { ErrorBanner, Loading } from "../components/States";
import { formatDateTime } from "../format";
import { errorText } from "../useResource";
import {
  alertsApi,
  subscribeThisBrowser,
  type Delivery,
  type Destination,
  type QuietHours,
  type TelegramCode,
} from "../alerts/api";

const KIND_NAMES: Record<Destination["kind"], string> = {
  email: "Email",
  telegram: "Telegram",
  discord: "Discord",
  slack: "Slack",
  webpush: "Browser push",
};

const STATE_TEXT: Record<Destination["state"], string> = {
  unverified: "waiting for confirmation (check your inbox)",
  active: "active",
  unsubscribed: "unsubscribed",
  disabled: "disabled by the provider",
  suppressed: "suppressed after a bounce or complaint",
};

/** Notification settings: where alerts go, whether each destination works, quiet hours, the log. */
export function AlertSettings() {
  const { api } = useApp();
  const alerts = useMemo(() => alertsApi(api), [api]);
  const [destinations, setDestinations] = useState<Destination[] | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [quiet, setQuiet] = useState<QuietHours | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [code, setCode] = useState<TelegramCode | null>(null);
  const [kind, setKind] = useState<"email" | "discord" | "slack">("email");
  const [value, setValue] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);

  const reload = useCallback(async () => {
    try {
      const [d, log, prefs] = await Promise.all([alerts.destinations(), alerts.deliveries(), alerts.preferences()]);
      setDestinations(d);
      setDeliveries(log);
      setQuiet(prefs);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [alerts]);

  useEffect(() => {
    void reload();
  }, [reload]);

  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      setNotice(done);
      await reload();
    } catch (e) {
      setNotice(errorText(e));
    }
  };

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setFieldError(null);
    try {
      await alerts.create(kind === "email" ? { kind, address: value } : { kind, url: value });
      setValue("");
      setNotice(kind === "email" ? "Check your inbox: the address is used once you click the link we sent." : "Added.");
      await reload();
    } catch (e) {
      setFieldError(errorText(e));
    }
  };

  const enablePush = async () => {
    try {
      const { public_key } = await alerts.pushKey();
      if (!public_key) throw new Error("Browser push is not configured on this server.");
      await alerts.create(await subscribeThisBrowser(public_key));
      setNotice("This browser will show alerts.");
      await reload();
    } catch (e) {
      setNotice(errorText(e));
    }
  };

  const saveQuiet = async (event: FormEvent) => {
    event.preventDefault();
    if (quiet) await act(() => alerts.setPreferences(quiet), "Quiet hours saved.");
  };

  if (error && !destinations) return <ErrorBanner error={error} onRetry={() => void reload()} />;
  if (!destinations || !quiet) return <Loading label="Loading notification settings…" />;
  const labelOf = (id: number) => destinations.find((d) => d.id === id)?.label ?? `#${id}`;

  return (
    <section>
      <h1>Notification settings</h1>
      <p className="muted">
        Rules with a <em>deliver</em> action send alerts to the destinations below (those marked default, unless the rule
        names others).
      </p>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}

      <h2>Destinations</h2>
      {destinations.length === 0 ? (
        <p className="muted">No destinations yet.</p>
      ) : (
        <table data-testid="destinations">
          <thead>
            <tr>
              <th>Channel</th>
              <th>Where</th>
              <th>State</th>
              <th>Default</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {destinations.map((d) => (
              <tr key={d.id}>
                <td>{KIND_NAMES[d.kind]}</td>
                <td>
                  {d.label}
                  {d.label !== d.target && <span className="muted"> {d.target}</span>}
                </td>
                <td>
                  {STATE_TEXT[d.state]}
                  {d.disabled_reason && <span className="muted"> ({d.disabled_reason})</span>}
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Default: ${d.label}`}
                    checked={d.is_default}
                    onChange={(e) => void act(() => alerts.update(d.id, { is_default: e.target.checked }), "Saved.")}
                  />
                </td>
                <td>
                  {d.state === "active" && (
                    <button type="button" onClick={() => void act(() => alerts.test(d.id), `Test alert queued for ${d.label}.`)}>
                      Send test
                    </button>
                  )}
                  {(d.state === "unsubscribed" || d.state === "disabled") && (
                    <button type="button" onClick={() => void act(() => alerts.resubscribe(d.id), "Receiving again.")}>
                      Resume
                    </button>
                  )}
                  <button type="button" onClick={() => void act(() => alerts.remove(d.id), "Removed.")}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <form onSubmit={(e) => void add(e)} className="inline-form">
        <label>
          Channel
          <select value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
            <option value="email">Email</option>
            <option value="discord">Discord webhook</option>
            <option value="slack">Slack webhook</option>
          </select>
        </label>
        <label>
          {kind === "email" ? "Email address" : "Webhook URL"}
          <input
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={fieldError ? "true" : undefined}
            aria-describedby={fieldError ? "destination-error" : undefined}
            required
          />
        </label>
        <button type="submit">Add</button>
        {fieldError && (
          <p id="destination-error" className="field-error">
            {fieldError}
          </p>
        )}
      </form>
      <p>
        <button type="button" onClick={() => void act(async () => setCode(await alerts.telegramCode()), "Code ready.")}>
          Link Telegram
        </button>{" "}
        <button type="button" onClick={() => void enablePush()}>
          Alerts in this browser
        </button>
      </p>
      {code && (
        <p data-testid="telegram-code">
          Send <code>/start {code.code}</code> to the Tidewatch bot
          {code.link && (
            <>
              {" "}
              (<a href={code.link}>open Telegram</a>)
            </>
          )}{" "}
          before {formatDateTime(code.expires_at)}.
        </p>
      )}

      <h2>Quiet hours</h2>
      <form onSubmit={(e) => void saveQuiet(e)} className="inline-form">
        <label>
          From
          <input type="time" value={quiet.quiet_start ?? ""} onChange={(e) => setQuiet({ ...quiet, quiet_start: e.target.value || null })} />
        </label>
        <label>
          To
          <input type="time" value={quiet.quiet_end ?? ""} onChange={(e) => setQuiet({ ...quiet, quiet_end: e.target.value || null })} />
        </label>
        <label>
          Time zone
          <input value={quiet.timezone} onChange={(e) => setQuiet({ ...quiet, timezone: e.target.value })} />
        </label>
        <label>
          Still send
          <select
            value={quiet.quiet_min_severity}
            onChange={(e) => setQuiet({ ...quiet, quiet_min_severity: e.target.value as QuietHours["quiet_min_severity"] })}
          >
            <option value="critical">critical only</option>
            <option value="warning">warning and critical</option>
            <option value="info">everything</option>
          </select>
        </label>
        <button type="submit">Save quiet hours</button>
      </form>

      <h2>Delivery log</h2>
      {deliveries.length === 0 ? (
        <p className="muted">Nothing sent yet.</p>
      ) : (
        <ul data-testid="delivery-log">
          {deliveries.map((d) => (
            <li key={d.id}>
              <strong>{d.subject}</strong> → {labelOf(d.destination_id)}: {d.status}
              {d.attempts.map((a) => (
                <span key={a.attempt} className="muted">
                  {" "}
                  · attempt {a.attempt} {a.outcome}
                  {a.response_code != null && ` (${a.response_code})`}
                  {a.latency_ms != null && ` ${Math.round(a.latency_ms)} ms`}
                </span>
              ))}
              {d.status !== "delivered" && d.last_error && <span className="muted"> — {d.last_error}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
