import { describe, expect, it } from "vitest";
import { ACTIONS, TRIGGERS, buildRule, describeBlock, emptyRuleForm, formKeyForServerField, type RuleFormState } from "./catalog";

describe("rule catalog", () => {
  it("covers every trigger and action the product promises", () => {
    expect(TRIGGERS.map((t) => t.id)).toEqual(["apy_above", "apy_below", "apy_spread", "health_factor_below", "risk_above", "price_change"]);
    expect(ACTIONS.map((a) => a.fixed.type)).toEqual(["notify", "prepare_transaction", "prepare_transaction", "webhook"]);
  });

  it("builds the definition with percentages as fractions and numbers typed", () => {
    const form: RuleFormState = {
      ...emptyRuleForm(),
      name: " USDC spread ",
      portfolioId: "7",
      trigger: { typeId: "apy_spread", values: { market_id: "1", other_market_id: "2", side: "supply", min_spread: "0.5" } },
      conditions: [{ typeId: "risk_above", values: { probability: "10" } }],
      conditionsMode: "any",
      actions: [
        { typeId: "notify", values: {} },
        { typeId: "prepare_move_supply", values: { from_market_id: "1", to_market_id: "2" } },
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
      definition: {
        trigger: { type: "apy_spread", market_id: 1, other_market_id: 2, side: "supply", min_spread: 0.005 },
        conditions: { mode: "any", items: [{ type: "risk_above", probability: 0.1 }] },
        actions: [
          { type: "notify" },
          { type: "prepare_transaction", intent: "move_supply", from_market_id: 1, to_market_id: 2 },
          { type: "webhook", url: "https://hooks.test/x" },
        ],
      },
    });
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
    expect(describeBlock(TRIGGERS, { type: "health_factor_below", threshold: 1.5 })).toBe("Health factor below: Health factor 1.5");
    expect(describeBlock(ACTIONS, { type: "prepare_transaction", intent: "repay_to_health_factor", target_health_factor: 2 })).toBe(
      "Prepare a repay to a target health factor: Target health factor 2",
    );
    expect(describeBlock(TRIGGERS, { type: "apy_above", market_id: 3, side: "supply", threshold: 0.05 })).toContain("Threshold 5.00 %");
  });
});
