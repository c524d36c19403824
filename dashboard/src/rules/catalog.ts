/**
 * Every trigger and action type the rule form offers, with the fields each needs. The form is
 * generated from this table, and `buildDefinition` turns form values into the API's rule
 * definition (the JSON the server validates against its published JSON Schema).
 */
import type { RuleInput } from "../api/types";

export type FieldKind = "number" | "percent" | "market" | "text" | "url" | "select" | "chain";

export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  help?: string;
  required?: boolean;
  options?: Array<{ value: string; label: string }>;
  min?: number;
  max?: number;
  step?: number;
  placeholder?: string;
}

export interface TypeSpec {
  /** What the form selects. */
  id: string;
  label: string;
  description: string;
  /** Fixed keys written into the definition (at least `type`). */
  fixed: Record<string, string>;
  fields: FieldSpec[];
}

const SIDE: FieldSpec = {
  name: "side",
  label: "Rate",
  kind: "select",
  required: true,
  options: [
    { value: "supply", label: "Supply APY" },
    { value: "borrow", label: "Borrow APY" },
  ],
};

const HYSTERESIS: FieldSpec = {
  name: "hysteresis",
  label: "Re-arm margin",
  kind: "number",
  min: 0,
  max: 100,
  step: 0.001,
  help: "How far back past the threshold the value must go before the rule can fire again (same unit as the threshold, as a fraction).",
};

/** Field names may be dotted ("intent.market_id"): the value is written nested. */
export const TRIGGERS: TypeSpec[] = [
  {
    id: "apy_above",
    label: "Market APY above",
    description: "Fires when a market's supply or borrow APY rises above a threshold.",
    fixed: { type: "market_apy", op: "above" },
    fields: [
      { name: "market_id", label: "Market", kind: "market", required: true },
      SIDE,
      { name: "threshold", label: "Threshold (%)", kind: "percent", required: true, min: 0, step: 0.01, help: "Annual rate, e.g. 5 for 5 %." },
      HYSTERESIS,
    ],
  },
  {
    id: "apy_below",
    label: "Market APY below",
    description: "Fires when a market's supply or borrow APY falls below a threshold.",
    fixed: { type: "market_apy", op: "below" },
    fields: [
      { name: "market_id", label: "Market", kind: "market", required: true },
      SIDE,
      { name: "threshold", label: "Threshold (%)", kind: "percent", required: true, min: 0, step: 0.01, help: "Annual rate, e.g. 2 for 2 %." },
      HYSTERESIS,
    ],
  },
  {
    id: "apy_spread",
    label: "APY spread between two markets",
    description: "Fires when market A's APY minus market B's (same side) crosses a spread, e.g. Compound USDC vs Aave USDC.",
    fixed: { type: "apy_spread" },
    fields: [
      { name: "market_id", label: "Market A", kind: "market", required: true },
      { name: "other_market_id", label: "Market B", kind: "market", required: true },
      SIDE,
      {
        name: "op",
        label: "Spread is",
        kind: "select",
        required: true,
        options: [
          { value: "above", label: "Above" },
          { value: "below", label: "Below" },
        ],
      },
      { name: "threshold", label: "Spread (percentage points)", kind: "percent", required: true, min: -100, step: 0.01, help: "0.5 means A pays half a point more than B." },
      HYSTERESIS,
    ],
  },
  {
    id: "health_factor_below",
    label: "Health factor below",
    description: "Fires when the lowest health factor across the portfolio falls below the threshold.",
    fixed: { type: "health_factor_below" },
    fields: [
      { name: "threshold", label: "Health factor", kind: "number", required: true, min: 1, max: 100, step: 0.01, help: "1.0 is liquidation; 1.5 leaves room to act." },
      HYSTERESIS,
    ],
  },
  {
    id: "risk_forecast_above",
    label: "Liquidation risk above",
    description: "Fires when the forecast probability of liquidation within the horizon exceeds a level.",
    fixed: { type: "risk_forecast_above" },
    fields: [
      { name: "threshold", label: "Probability (%)", kind: "percent", required: true, min: 0.01, max: 99.99, step: 0.1 },
      {
        name: "horizon_hours",
        label: "Horizon",
        kind: "select",
        required: true,
        options: [
          { value: "24", label: "24 hours" },
          { value: "168", label: "7 days" },
        ],
      },
    ],
  },
  {
    id: "price_change",
    label: "Asset price change",
    description: "Fires when an asset's USD price moves by more than a percentage within a window.",
    fixed: { type: "price_change" },
    fields: [
      { name: "asset", label: "Asset symbol", kind: "text", required: true, placeholder: "WETH" },
      { name: "chain_id", label: "Chain", kind: "chain", required: true },
      {
        name: "op",
        label: "Direction",
        kind: "select",
        required: true,
        options: [
          { value: "falls", label: "Falls" },
          { value: "rises", label: "Rises" },
          { value: "moves", label: "Moves either way" },
        ],
      },
      { name: "threshold", label: "Change (%)", kind: "percent", required: true, min: 0.01, max: 1000, step: 0.1 },
      { name: "window_seconds", label: "Window (seconds)", kind: "number", required: true, min: 300, max: 604800, step: 60, placeholder: "3600", help: "From 300 (5 minutes) to 604800 (7 days)." },
    ],
  },
];

export const ACTIONS: TypeSpec[] = [
  {
    id: "notify",
    label: "Live notification",
    description: "Stores a notification and pushes it to your open dashboards.",
    fixed: { type: "notify" },
    fields: [
      {
        name: "severity",
        label: "Severity",
        kind: "select",
        options: [
          { value: "warning", label: "Warning" },
          { value: "info", label: "Info" },
          { value: "critical", label: "Critical" },
        ],
      },
      { name: "title", label: "Title", kind: "text", placeholder: "Defaults to “Rule '<name>' fired”" },
    ],
  },
  {
    id: "prepare_repay",
    label: "Prepare a repay to a target health factor",
    description: "Prepares the repay transaction(s) for you to sign on the Transactions page.",
    fixed: { type: "prepare_transaction", "intent.kind": "repay_to_health_factor" },
    fields: [
      { name: "intent.market_id", label: "Debt market", kind: "market", required: true },
      { name: "intent.target_health_factor", label: "Target health factor", kind: "number", required: true, min: 1.01, max: 10, step: 0.01, placeholder: "1.5" },
    ],
  },
  {
    id: "prepare_move_supply",
    label: "Prepare moving supply to the better market",
    description: "Prepares withdraw + supply transactions for you to sign.",
    fixed: { type: "prepare_transaction", "intent.kind": "move_supply" },
    fields: [
      { name: "intent.from_market_id", label: "From market", kind: "market", required: true },
      { name: "intent.to_market_id", label: "To market", kind: "market", required: true },
      { name: "intent.fraction", label: "Share to move (%)", kind: "percent", min: 0.01, max: 100, step: 1, placeholder: "100" },
    ],
  },
  {
    id: "webhook",
    label: "Webhook (HMAC signed)",
    description: "POSTs a signed JSON payload to your URL, with retries. The signing secret is shown once the rule is saved.",
    fixed: { type: "webhook" },
    fields: [{ name: "url", label: "URL", kind: "url", required: true, placeholder: "https://example.com/hook" }],
  },
];

export type FormValues = Record<string, string>;

export interface Block {
  typeId: string;
  values: FormValues;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object") node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function getPath(source: Record<string, unknown>, path: string): unknown {
  let node: unknown = source;
  for (const part of path.split(".")) {
    if (!node || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

export function findSpec(list: TypeSpec[], id: string): TypeSpec | undefined {
  return list.find((s) => s.id === id);
}

/** Converts one typed block's string inputs into definition JSON; collects local errors. */
export function buildBlock(list: TypeSpec[], block: Block, path: string, errors: Record<string, string>): Record<string, unknown> & { type: string } {
  const spec = findSpec(list, block.typeId);
  if (!spec) {
    errors[`${path}.type`] = "Choose a type.";
    return { type: "" };
  }
  const out: Record<string, unknown> & { type: string } = { type: spec.fixed.type };
  for (const [k, v] of Object.entries(spec.fixed)) setPath(out, k, v);
  for (const field of spec.fields) {
    const raw = (block.values[field.name] ?? "").trim();
    const key = `${path}.${field.name}`;
    if (!raw) {
      if (field.required) errors[key] = `${field.label} is required.`;
      continue;
    }
    switch (field.kind) {
      case "number":
      case "percent":
      case "market":
      case "chain": {
        const n = Number(raw);
        if (!Number.isFinite(n)) {
          errors[key] = `${field.label} must be a number.`;
          continue;
        }
        if (field.min !== undefined && n < field.min) errors[key] = `${field.label} must be at least ${field.min}.`;
        if (field.max !== undefined && n > field.max) errors[key] = `${field.label} must be at most ${field.max}.`;
        // Percent inputs are typed as "5" (%) and sent as the fraction the API stores (0.05).
        setPath(out, field.name, field.kind === "percent" ? Number((n / 100).toPrecision(12)) : n);
        break;
      }
      case "url":
        try {
          const u = new URL(raw);
          if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("scheme");
          setPath(out, field.name, raw);
        } catch {
          errors[key] = "Enter a full http(s) URL.";
        }
        break;
      case "select":
        // Numeric options (e.g. a horizon in hours) go out as numbers.
        setPath(out, field.name, /^\d+$/.test(raw) ? Number(raw) : raw);
        break;
      default:
        setPath(out, field.name, raw);
    }
  }
  return out;
}

export interface RuleFormState {
  name: string;
  portfolioId: string;
  trigger: Block;
  conditionsMode: "all" | "any";
  conditions: Block[];
  actions: Block[];
  cadenceSeconds: string;
  cooldownSeconds: string;
  enabled: boolean;
}

export function emptyRuleForm(): RuleFormState {
  return {
    name: "",
    portfolioId: "",
    trigger: { typeId: "health_factor_below", values: { threshold: "1.5" } },
    conditionsMode: "all",
    conditions: [],
    actions: [{ typeId: "notify", values: {} }],
    cadenceSeconds: "60",
    cooldownSeconds: "3600",
    enabled: true,
  };
}

export interface BuiltRule {
  body: RuleInput;
  /** Form-local errors keyed like the server's field paths ("trigger.threshold"). */
  errors: Record<string, string>;
}

export function buildRule(form: RuleFormState): BuiltRule {
  const errors: Record<string, string> = {};
  if (!form.name.trim()) errors.name = "Give the rule a name.";
  const trigger = buildBlock(TRIGGERS, form.trigger, "trigger", errors);
  const conditions = form.conditions.map((c, i) => buildBlock(TRIGGERS, c, `conditions.items.${i}`, errors));
  if (!form.actions.length) errors.actions = "Add at least one action.";
  const actions = form.actions.map((a, i) => buildBlock(ACTIONS, a, `actions.${i}`, errors));
  const cadence = Number(form.cadenceSeconds);
  if (!Number.isInteger(cadence) || cadence < 60) errors.cadence_seconds = "Cadence is a whole number of seconds, at least 60.";
  const cooldown = Number(form.cooldownSeconds);
  if (!Number.isInteger(cooldown) || cooldown < 0) errors.cooldown_seconds = "Cooldown is a whole number of seconds (0 or more).";
  return {
    body: {
      name: form.name.trim(),
      portfolio_id: form.portfolioId ? Number(form.portfolioId) : null,
      trigger,
      conditions: conditions.length ? { mode: form.conditionsMode, items: conditions } : null,
      actions,
      cadence_seconds: cadence,
      cooldown_seconds: cooldown,
      enabled: form.enabled,
    },
    errors,
  };
}

/** Maps a server field path onto the form's keys: "definition.trigger.threshold" → "trigger.threshold". */
export function formKeyForServerField(field: string): string {
  const dotted = field.replace(/^#?\//, "").replace(/\//g, ".").replace(/\[(\d+)\]/g, ".$1");
  return dotted.replace(/^body\./, "").replace(/^definition\./, "");
}

export function describeBlock(list: TypeSpec[], block: Record<string, unknown>): string {
  const spec = list.find((s) => Object.entries(s.fixed).every(([k, v]) => getPath(block, k) === v));
  if (!spec) return String(block.type ?? "?");
  const parts = spec.fields
    .filter((f) => getPath(block, f.name) !== undefined && getPath(block, f.name) !== null)
    .map((f) => {
      const v = getPath(block, f.name);
      return `${f.label.replace(/ \(.*\)$/, "")} ${f.kind === "percent" ? `${(Number(v) * 100).toFixed(2)} %` : String(v)}`;
    });
  return parts.length ? `${spec.label}: ${parts.join(", ")}` : spec.label;
}
