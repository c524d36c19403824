"""The field order of a predicate row, in one place (no imports beyond typing: the repository's
SQL, the model flattening in `tidewatch.rules.ruleset` and the loader in `tidewatch.rules.store`
all read it).

A rule flattens into predicates: its trigger (`is_trigger`) and each extra condition. Codes
(kind, side, op, mode) are those of `tidewatch.rules.ruleset`.
"""

from __future__ import annotations

from typing import NamedTuple


class PredicateRow(NamedTuple):
    """One predicate of a rule, as `RuleSet.from_rows` takes it."""

    rule_id: int
    is_trigger: bool
    kind: int
    market_a: int
    market_b: int
    side: int
    horizon: int
    chain_id: int
    asset: str
    window_seconds: int
    op: int
    threshold: float
    hysteresis: float


# A predicate flattened from a rule's JSON definition (`rule_flat_predicates`, one row per
# predicate): a `PredicateRow`, then the rule's condition mode and the predicate's place in the
# rule (0 for the trigger).
FLAT_PREDICATE_COLUMNS = (*PredicateRow._fields, "mode", "ord")
