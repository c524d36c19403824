import { describe, expect, it } from "vitest";
import { ACTIONS, TRIGGERS, buildRule, describeBlock, emptyRuleForm, formKeyForServerField, type RuleFormState } from "./catalog";

describe("rule catalog", () => {
  it("covers every trigger and action the product promises", () => {
    // The API's schema (docs/rule.schema.json) names five trigger types and three action types
    expect(new Set(TRIGGERS.map((t) => t.fixed.type))).toEqual(new Set(["market_apy", "apy_spread", "health_factor_below", "risk_forecast_above", "price_change"]));
    expect(ACTIONS.map((a) => a.fixed.type)).toEqual(["notify", "prepare_transaction", "prepare_transaction", "webhook"]);
  });

  it("builds the rule body with fractions, numbers and nested intents", () => {
    const form: RuleFormState = {
      ...emptyRuleForm(),
      name: " USDC spread ",
      portfolioId: "7",
      trigger: { typeId: "apy_spread", values: { market_id: "1", other_market_id: "2", side: "supply", op: "above", threshold: "0.5" } },
      conditions: [{ typeId: "risk_forecast_above", values: { threshold: "10", horizon_hours: "168" } }],
      conditionsMode: "any",
      actions: [
        { typeId: "notify", values: { severity: "critical" } },
        { typeId: "prepare_move_supply", values: { "intent.from_market_id": "1", "intent.to_market_id": "2" } },
        { typeId: "prepare_repay", values: { "intent.market_id": "4", "intent.target_health_factor": "1.6" } },
        { typeId: "webhook", values: { url: "https://hooks.test/x" } },
      ],
      cadenceSeconds: "300",
      cooldownSeconds: "0",
    };
    const { body, errors } = buildRule(form);
    expect(errors).toEqual({});
    expect(body).toEqual({
      name: "USDC spread",
      portfolio_id: 7,
      cadence_seconds: 300,
      cooldown_seconds: 0,
      enabled: true,
      trigger: { type: "apy_spread", market_id: 1, other_market_id: 2, side: "supply", op: "above", threshold: 0.005 },
      conditions: { mode: "any", items: [{ type: "risk_forecast_above", threshold: 0.1, horizon_hours: 168 }] },
      actions: [
        { type: "notify", severity: "critical" },
        { type: "prepare_transaction", intent: { kind: "move_supply", from_market_id: 1, to_market_id: 2 } },
        { type: "prepare_transaction", intent: { kind: "repay_to_health_factor", market_id: 4, target_health_factor: 1.6 } },
        { type: "webhook", url: "https://hooks.test/x" },
      ],
    });
    // And market APY triggers carry their direction
    const above = buildRule({ ...form, trigger: { typeId: "apy_above", values: { market_id: "3", side: "borrow", threshold: "5" } } }).body.trigger;
    expect(above).toEqual({ type: "market_apy", op: "above", market_id: 3, side: "borrow", threshold: 0.05 });
  });

  it("reports local errors under the same keys the server uses", () => {
    const form = {
      ...emptyRuleForm(),
      trigger: { typeId: "health_factor_below", values: { threshold: "0.5" } },
      actions: [{ typeId: "webhook", values: { url: "ftp://nope" } }],
      cadenceSeconds: "10",
    };
    const { errors } = buildRule(form);
    expect(errors).toEqual({
      name: "Give the rule a name.",
      "trigger.threshold": "Health factor must be at least 1.",
      "actions.0.url": "Enter a full http(s) URL.",
      cadence_seconds: "Cadence is a whole number of seconds, at least 60.",
    });
  });

  it("maps server field paths onto form keys", () => {
    expect(formKeyForServerField("definition.trigger.threshold")).toBe("trigger.threshold");
    expect(formKeyForServerField("body.definition.actions[0].url")).toBe("actions.0.url");
    expect(formKeyForServerField("/definition/actions/1/url")).toBe("actions.1.url");
    expect(formKeyForServerField("cadence_seconds")).toBe("cadence_seconds");
  });

  it("describes stored definitions in words", () => {
    expect(describeBlock(TRIGGERS, { type: "health_factor_below", threshold: 1.5, hysteresis: 0 })).toBe("Health factor below: Health factor 1.5, Re-arm margin 0");
    expect(describeBlock(ACTIONS, { type: "prepare_transaction", intent: { kind: "repay_to_health_factor", market_id: 4, target_health_factor: 2 } })).toBe(
      "Prepare a repay to a target health factor: Debt market 4, Target health factor 2",
    );
    expect(describeBlock(TRIGGERS, { type: "market_apy", op: "below", market_id: 3, side: "supply", threshold: 0.05 })).toMatch(/^Market APY below: .*Threshold 5.00 %/);
  });
});
