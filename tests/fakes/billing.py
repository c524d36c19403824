"""An in-memory `PlanUsage` (tidewatch.billing.limits): users' plans and what they already have."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InMemoryPlanUsage:
    plans: dict[int, str] = field(default_factory=dict)
    portfolios: dict[int, int] = field(default_factory=dict)  # user id -> portfolios owned
    enabled_rules: dict[int, int] = field(default_factory=dict)  # user id -> enabled rules

    def user_plan(self, user_id: int, *, lock: bool = False) -> str | None:
        return self.plans.get(user_id)

    def portfolio_count(self, user_id: int) -> int:
        return self.portfolios.get(user_id, 0)

    def enabled_rule_count(self, user_id: int) -> int:
        return self.enabled_rules.get(user_id, 0)
