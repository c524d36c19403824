import { useId, useState } from "react";
import { useNavigate } from "react-router";
import { useApp } from "../AppContext";
import { ApiError } from "../api/problem";
import type { Market, Portfolio } from "../api/types";
import { Async, FieldError } from "../components/States";
import { chainName, protocolName } from "../format";
import {
  ACTIONS,
  TRIGGERS,
  buildRule,
  emptyRuleForm,
  findSpec,
  formKeyForServerField,
  type Block,
  type FieldSpec,
  type RuleFormState,
  type TypeSpec,
} from "../rules/catalog";
import { errorText, useResource } from "../useResource";

export function NewRule() {
  const { api } = useApp();
  const data = useResource(async () => {
    // The plan's fastest cadence sets the default; billing may be unconfigured (then: 60 s).
    const [portfolios, markets, billing] = await Promise.all([api.listPortfolios(), api.listMarkets(), api.getBilling().catch(() => null)]);
    return { portfolios, markets, minCadence: billing?.entitlements?.min_rule_cadence_seconds ?? 60 };
  }, [api]);
  return (
    <section>
      <h1>New rule</h1>
      <Async resource={data} label="Loading portfolios and markets…">
        {(d) => <RuleForm portfolios={d.portfolios} markets={d.markets} minCadence={d.minCadence} />}
      </Async>
    </section>
  );
}

function RuleForm({ portfolios, markets, minCadence }: { portfolios: Portfolio[]; markets: Market[]; minCadence: number }) {
  const { api, pushToast } = useApp();
  const navigate = useNavigate();
  const [form, setForm] = useState<RuleFormState>(() => ({
    ...emptyRuleForm(),
    portfolioId: portfolios[0] ? String(portfolios[0].id) : "",
    cadenceSeconds: String(Math.max(60, minCadence)),
  }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setFormError(null);
    const built = buildRule(form);
    setErrors(built.errors);
    if (Object.keys(built.errors).length) {
      focusFirstError();
      return;
    }
    setBusy(true);
    try {
      const rule = await api.createRule(built.body);
      pushToast({ title: `Rule “${rule.name}” created`, tone: "success" });
      navigate(`/rules/${rule.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const map: Record<string, string> = {};
        const unplaced: string[] = [];
        for (const f of err.fieldErrors) {
          const key = formKeyForServerField(f.field);
          if (document.getElementById(fieldDomId(key))) map[key] ??= f.message;
          else unplaced.push(`${f.field}: ${f.message}`);
        }
        setErrors(map);
        setFormError(unplaced.length ? unplaced.join(" · ") : "The server refused some fields; see the messages below them.");
        focusFirstError();
      } else setFormError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const set = (patch: Partial<RuleFormState>) => setForm((f) => ({ ...f, ...patch }));
  return (
    <form className="rule-form" onSubmit={(e) => void submit(e)} noValidate>
      {formError && (
        <p className="state state-error" role="alert" data-testid="form-error">
          {formError}
        </p>
      )}
      <fieldset className="panel">
        <legend>Rule</legend>
        <TextField label="Name" name="name" value={form.name} onChange={(v) => set({ name: v })} error={errors.name} />
        <div className="field">
          <label htmlFor={fieldDomId("portfolio_id")}>Portfolio</label>
          <select id={fieldDomId("portfolio_id")} value={form.portfolioId} onChange={(e) => set({ portfolioId: e.target.value })}>
            <option value="">None (market-only rule)</option>
            {portfolios.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
          <FieldError id={`${fieldDomId("portfolio_id")}-err`} message={errors.portfolio_id} />
        </div>
      </fieldset>

      <fieldset className="panel">
        <legend>When</legend>
        <BlockEditor list={TRIGGERS} block={form.trigger} path="trigger" markets={markets} errors={errors} onChange={(b) => set({ trigger: b })} label="Trigger" />
        <h3>Extra conditions (optional)</h3>
        {form.conditions.length > 0 && (
          <div className="field">
            <label htmlFor="conditions-mode">Combine with the trigger</label>
            <select id="conditions-mode" value={form.conditionsMode} onChange={(e) => set({ conditionsMode: e.target.value as "all" | "any" })}>
              <option value="all">All conditions must hold</option>
              <option value="any">Any condition is enough</option>
            </select>
          </div>
        )}
        {form.conditions.map((c, i) => (
          <div key={i} className="sub-block">
            <BlockEditor
              list={TRIGGERS}
              block={c}
              path={`conditions.items.${i}`}
              markets={markets}
              errors={errors}
              label={`Condition ${i + 1}`}
              onChange={(b) => set({ conditions: form.conditions.map((x, j) => (j === i ? b : x)) })}
            />
            <button type="button" className="link danger" onClick={() => set({ conditions: form.conditions.filter((_, j) => j !== i) })}>
              Remove condition {i + 1}
            </button>
          </div>
        ))}
        <button type="button" onClick={() => set({ conditions: [...form.conditions, { typeId: "apy_below", values: { side: "supply" } }] })}>
          Add condition
        </button>
      </fieldset>

      <fieldset className="panel">
        <legend>Then</legend>
        {form.actions.map((a, i) => (
          <div key={i} className="sub-block">
            <BlockEditor
              list={ACTIONS}
              block={a}
              path={`actions.${i}`}
              markets={markets}
              errors={errors}
              label={`Action ${i + 1}`}
              onChange={(b) => set({ actions: form.actions.map((x, j) => (j === i ? b : x)) })}
            />
            {form.actions.length > 1 && (
              <button type="button" className="link danger" onClick={() => set({ actions: form.actions.filter((_, j) => j !== i) })}>
                Remove action {i + 1}
              </button>
            )}
          </div>
        ))}
        <FieldError id="actions-err" message={errors.actions} />
        <button type="button" onClick={() => set({ actions: [...form.actions, { typeId: "webhook", values: {} }] })}>
          Add action
        </button>
      </fieldset>

      <fieldset className="panel">
        <legend>Timing</legend>
        <TextField label="Check every (seconds)" name="cadence_seconds" type="number" value={form.cadenceSeconds} onChange={(v) => set({ cadenceSeconds: v })} error={errors.cadence_seconds} help={`At least ${Math.max(60, minCadence)} on your plan.`} />
        <TextField label="Cooldown after firing (seconds)" name="cooldown_seconds" type="number" value={form.cooldownSeconds} onChange={(v) => set({ cooldownSeconds: v })} error={errors.cooldown_seconds} help="The rule stays quiet this long after it fires." />
        <div className="field checkbox">
          <input id="rule-enabled" type="checkbox" checked={form.enabled} onChange={(e) => set({ enabled: e.target.checked })} />
          <label htmlFor="rule-enabled">Enabled</label>
        </div>
      </fieldset>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create rule"}
      </button>
    </form>
  );
}

export function fieldDomId(key: string): string {
  return `rule-${key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

function focusFirstError() {
  // After React renders the messages: move focus to the first invalid control.
  window.setTimeout(() => document.querySelector<HTMLElement>("[aria-invalid='true']")?.focus(), 0);
}

function TextField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  help?: string;
  type?: string;
  placeholder?: string;
  min?: number;
  max?: number;
  step?: number;
}) {
  const id = fieldDomId(props.name);
  const describedBy = [props.help ? `${id}-help` : "", props.error ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? "text"}
        inputMode={props.type === "number" ? "decimal" : undefined}
        value={props.value}
        placeholder={props.placeholder}
        min={props.min}
        max={props.max}
        step={props.step}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={describedBy}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.help && (
        <p className="help" id={`${id}-help`}>
          {props.help}
        </p>
      )}
      <FieldError id={`${id}-err`} message={props.error} />
    </div>
  );
}

function marketLabel(m: Market): string {
  return `${m.asset_symbol} · ${protocolName(m.protocol)} · ${chainName(m.chain_id)}`;
}

function BlockEditor(props: {
  list: TypeSpec[];
  block: Block;
  path: string;
  label: string;
  markets: Market[];
  errors: Record<string, string>;
  onChange: (b: Block) => void;
}) {
  const { list, block, path, errors } = props;
  const spec = findSpec(list, block.typeId);
  const typeId = fieldDomId(`${path}.type`);
  const descId = useId();
  const setValue = (name: string, v: string) => props.onChange({ ...block, values: { ...block.values, [name]: v } });
  return (
    <div className="block">
      <div className="field">
        <label htmlFor={typeId}>{props.label}</label>
        <select
          id={typeId}
          value={block.typeId}
          aria-describedby={descId}
          aria-invalid={errors[`${path}.type`] ? true : undefined}
          onChange={(e) => {
            const next = findSpec(list, e.target.value);
            // Keep values whose field exists in the new type; default selects to their first option.
            const values: Record<string, string> = {};
            for (const f of next?.fields ?? []) values[f.name] = block.values[f.name] ?? (f.kind === "select" ? (f.options?.[0]?.value ?? "") : "");
            props.onChange({ typeId: e.target.value, values });
          }}
        >
          {list.map((s) => (
            <option key={s.id} value={s.id}>
              {s.label}
            </option>
          ))}
        </select>
        <p className="help" id={descId}>
          {spec?.description}
        </p>
        <FieldError id={`${typeId}-err`} message={errors[`${path}.type`] ?? errors[path]} />
      </div>
      {spec?.fields.map((f) => (
        <BlockField key={f.name} field={f} path={path} value={block.values[f.name] ?? ""} markets={props.markets} error={errors[`${path}.${f.name}`]} onChange={(v) => setValue(f.name, v)} />
      ))}
    </div>
  );
}

function BlockField(props: { field: FieldSpec; path: string; value: string; markets: Market[]; error?: string; onChange: (v: string) => void }) {
  const { field, path, value, error } = props;
  const key = `${path}.${field.name}`;
  const id = fieldDomId(key);
  const describedBy = [field.help ? `${id}-help` : "", error ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy,
    "aria-required": field.required ? true : undefined,
  } as const;
  let control;
  if (field.kind === "select" || field.kind === "market" || field.kind === "chain") {
    const options =
      field.kind === "market"
        ? props.markets.map((m) => ({ value: String(m.id), label: marketLabel(m) }))
        : field.kind === "chain"
          ? [1, 8453].map((c) => ({ value: String(c), label: chainName(c) }))
          : (field.options ?? []);
    control = (
      <select {...common} value={value} onChange={(e) => props.onChange(e.target.value)}>
        <option value="">Choose…</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    );
  } else {
    const numeric = field.kind === "number" || field.kind === "percent";
    control = (
      <input
        {...common}
        type={numeric ? "number" : field.kind === "url" ? "url" : "text"}
        inputMode={numeric ? "decimal" : undefined}
        min={field.min}
        max={field.max}
        step={field.step}
        placeholder={field.placeholder}
        value={value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>
        {field.label}
        {field.required ? "" : " (optional)"}
      </label>
      {control}
      {field.help && (
        <p className="help" id={`${id}-help`}>
          {field.help}
        </p>
      )}
      <FieldError id={`${id}-err`} message={error} />
    </div>
  );
}
