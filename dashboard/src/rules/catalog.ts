/**
 * Every trigger and action type the rule form offers, with the fields each needs. The form is
 * generated from this table, and `buildDefinition` turns form values into the API's rule
 * definition (the JSON the server validates against its published JSON Schema).
 */
import type { RuleDefinition } from "../api/types";

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

export const TRIGGERS: TypeSpec[] = [
  {
    id: "apy_above",
    label: "Market APY above",
    description: "Fires when a market's supply or borrow APY rises above a threshold.",
    fixed: { type: "apy_above" },
    fields: [
      { name: "market_id", label: "Market", kind: "market", required: true },
      SIDE,
      { name: "threshold", label: "Threshold (%)", kind: "percent", required: true, min: 0, step: 0.01, help: "Annual rate, e.g. 5 for 5 %." },
    ],
  },
  {
    id: "apy_below",
    label: "Market APY below",
    description: "Fires when a market's supply or borrow APY falls below a threshold.",
    fixed: { type: "apy_below" },
    fields: [
      { name: "market_id", label: "Market", kind: "market", required: true },
      SIDE,
      { name: "threshold", label: "Threshold (%)", kind: "percent", required: true, min: 0, step: 0.01, help: "Annual rate, e.g. 2 for 2 %." },
    ],
  },
  {
    id: "apy_spread",
    label: "APY spread between two markets",
    description: "Fires when market A's APY exceeds market B's by at least the spread (e.g. Compound USDC vs Aave USDC).",
    fixed: { type: "apy_spread" },
    fields: [
      { name: "market_id", label: "Market A", kind: "market", required: true },
      { name: "other_market_id", label: "Market B", kind: "market", required: true },
      SIDE,
      { name: "min_spread", label: "Minimum spread (percentage points)", kind: "percent", required: true, min: 0, step: 0.01 },
    ],
  },
  {
    id: "health_factor_below",
    label: "Health factor below",
    description: "Fires when any position in the portfolio has a health factor under the threshold.",
    fixed: { type: "health_factor_below" },
    fields: [
      { name: "threshold", label: "Health factor", kind: "number", required: true, min: 1, step: 0.01, help: "1.0 is liquidation; 1.5 leaves room to act." },
    ],
  },
  {
    id: "risk_above",
    label: "Liquidation risk above",
    description: "Fires when the forecast probability of liquidation exceeds a level.",
    fixed: { type: "risk_above" },
    fields: [
      { name: "probability", label: "Probability (%)", kind: "percent", required: true, min: 0, max: 100, step: 0.1 },
      { name: "horizon_hours", label: "Horizon (hours)", kind: "number", min: 1, step: 1, placeholder: "24" },
    ],
  },
  {
    id: "price_change",
    label: "Asset price change",
    description: "Fires when an asset's price moves by more than a percentage within a window.",
    fixed: { type: "price_change" },
    fields: [
      { name: "asset_symbol", label: "Asset symbol", kind: "text", required: true, placeholder: "WETH" },
      { name: "chain_id", label: "Chain", kind: "chain", required: true },
      { name: "change_pct", label: "Change (%)", kind: "percent", required: true, min: 0, step: 0.1 },
      { name: "window_minutes", label: "Window (minutes)", kind: "number", required: true, min: 1, step: 1, placeholder: "60" },
      {
        name: "direction",
        label: "Direction",
        kind: "select",
        required: true,
        options: [
          { value: "down", label: "Down" },
          { value: "up", label: "Up" },
          { value: "either", label: "Either way" },
        ],
      },
    ],
  },
];

export const ACTIONS: TypeSpec[] = [
  {
    id: "notify",
    label: "Live notification",
    description: "Stores a notification and pushes it to your open dashboards.",
    fixed: { type: "notify" },
    fields: [],
  },
  {
    id: "prepare_repay",
    label: "Prepare a repay to a target health factor",
    description: "Prepares the repay transaction(s) for you to sign on the Transactions page.",
    fixed: { type: "prepare_transaction", intent: "repay_to_health_factor" },
    fields: [{ name: "target_health_factor", label: "Target health factor", kind: "number", required: true, min: 1, step: 0.01, placeholder: "1.8" }],
  },
  {
    id: "prepare_move_supply",
    label: "Prepare moving supply to the better market",
    description: "Prepares withdraw + supply transactions for you to sign.",
    fixed: { type: "prepare_transaction", intent: "move_supply" },
    fields: [
      { name: "from_market_id", label: "From market", kind: "market", required: true },
      { name: "to_market_id", label: "To market", kind: "market", required: true },
    ],
  },
  {
    id: "webhook",
    label: "Webhook (HMAC signed)",
    description: "POSTs a signed JSON payload to your URL, with retries.",
    fixed: { type: "webhook" },
    fields: [{ name: "url", label: "URL", kind: "url", required: true, placeholder: "https://example.com/hook" }],
  },
];

export type FormValues = Record<string, string>;

export interface Block {
  typeId: string;
  values: FormValues;
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
  const out: Record<string, unknown> & { type: string } = { ...spec.fixed, type: spec.fixed.type };
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
        out[field.name] = field.kind === "percent" ? Number((n / 100).toPrecision(12)) : n;
        break;
      }
      case "url":
        try {
          const u = new URL(raw);
          if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("scheme");
          out[field.name] = raw;
        } catch {
          errors[key] = "Enter a full http(s) URL.";
        }
        break;
      default:
        out[field.name] = raw;
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
  body: {
    name: string;
    portfolio_id: number | null;
    definition: RuleDefinition;
    cadence_seconds: number;
    cooldown_seconds: number;
    enabled: boolean;
  };
  /** Form-local errors keyed like the server's field paths (without "definition."). */
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
  const definition: RuleDefinition = { trigger, actions };
  if (conditions.length) definition.conditions = { mode: form.conditionsMode, items: conditions };
  return {
    body: {
      name: form.name.trim(),
      portfolio_id: form.portfolioId ? Number(form.portfolioId) : null,
      definition,
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
  const spec = list.find((s) => Object.entries(s.fixed).every(([k, v]) => block[k] === v));
  if (!spec) return String(block.type ?? "?");
  const parts = spec.fields
    .filter((f) => block[f.name] !== undefined)
    .map((f) => {
      const v = block[f.name];
      return `${f.label.replace(/ \(.*\)$/, "")} ${f.kind === "percent" ? `${(Number(v) * 100).toFixed(2)} %` : String(v)}`;
    });
  return parts.length ? `${spec.label}: ${parts.join(", ")}` : spec.label;
}
