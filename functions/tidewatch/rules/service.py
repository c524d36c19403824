"""Rules as the API sees them: CRUD scoped to the owner, plan limits, dry runs, history, notifications.

Another user's rule answers 404 (never 403 with data). Validation failures are 422 naming the
field; plan limits are 402 `plan-limit` from billing's entitlement check, run in the same unit of
work as the write after locking the user row so concurrent creations cannot both slip in. The data
lives behind a `RulesRepository` (tidewatch.rules.repository): this module holds no SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tidewatch.billing.limits import ensure_rule_allowed
from tidewatch.bounds import BIGINT_MAX, parse_id
from tidewatch.entrypoint import validation_problem
from tidewatch.errors import InvalidInput, NotFound
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.model import Action, ConditionGroup, RuleDefinition, RulePatch, RuleSpec, Trigger
from tidewatch.rules.repository import RuleRecords, RulesRepository, RuleValues
from tidewatch.rules.webhooks import webhook_secret

if TYPE_CHECKING:
    from tidewatch.rules.tick import TickSources


class RuleOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    portfolio_id: int | None
    trigger: Trigger | None = Field(
        description="Null only when the stored definition no longer validates (the rule is then disabled, "
        "`disabled_reason` says why): PATCH a new trigger/actions to repair it."
    )
    conditions: ConditionGroup | None
    actions: list[Action]
    cadence_seconds: int
    cooldown_seconds: int
    enabled: bool
    disabled_reason: str | None
    armed: bool
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    webhook_secret: str | None = None  # only when the rule has a webhook action (to verify signatures)


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None


class Execution(BaseModel):
    id: int
    window_key: str
    evaluated_at: datetime
    fired: bool
    observed: dict[str, Any]
    actions: list[dict[str, Any]]
    error: str | None


class ExecutionPage(BaseModel):
    items: list[Execution]
    next_cursor: str | None


class Notification(BaseModel):
    id: int
    kind: str
    title: str
    body: dict[str, Any]
    rule_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None


class DryRun(BaseModel):
    rule_id: int
    evaluated_at: datetime
    would_fire: bool
    matched: bool
    armed: bool
    cooling_down: bool
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]]
    conditions_ok: bool
    actions: list[str]  # what would happen, in words; nothing is executed


def _cursor(value: str | None) -> int:
    if value is None:
        return BIGINT_MAX
    parsed = parse_id(value)
    if parsed is None:
        raise InvalidInput("invalid cursor", errors=[{"field": "cursor", "message": "not a cursor of this list"}])
    return parsed


def _describe(action: Action) -> str:
    if action.type == "notify":
        return f"notify ({action.severity}): {action.title or 'rule fired'}"
    if action.type == "prepare_transaction":
        return f"prepare transaction: {action.intent.kind}"
    if action.type == "deliver":
        where = ", ".join(map(str, action.destinations)) if action.destinations else "default destinations"
        return f"deliver ({action.severity}) to {where}"
    return f"POST signed webhook to {action.url}"


def _values(spec: RuleSpec) -> RuleValues:
    return RuleValues(
        name=spec.name,
        portfolio_id=spec.portfolio_id,
        definition=spec.definition().model_dump_json(),
        cadence_seconds=spec.cadence_seconds,
        cooldown_seconds=spec.cooldown_seconds,
        enabled=spec.enabled,
    )


class RulesService:
    def __init__(
        self,
        repository: RulesRepository,
        *,
        signing_key: bytes,
        sources: TickSources | None = None,
        egress: EgressPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._egress = egress if egress is not None else EgressPolicy()
        self._rules = repository
        self._key = signing_key
        self._sources = sources
        self._clock = clock

    def _out(self, row: dict[str, Any]) -> RuleOut:
        columns = {
            k: row[k] for k in RuleOut.model_fields if k in row and k not in ("trigger", "conditions", "actions")
        }
        try:
            definition = RuleDefinition.model_validate(row["definition"])
        except ValidationError:
            # Written past the API (or under an older model): shown without its definition, so
            # the owner can still list, read, repair (PATCH) or delete it.
            return RuleOut(**columns, trigger=None, conditions=None, actions=[])
        uses_webhook = any(a.type == "webhook" for a in definition.actions)
        return RuleOut(
            **columns,
            trigger=definition.trigger,
            conditions=definition.conditions,
            actions=definition.actions,
            webhook_secret=webhook_secret(self._key, int(row["id"])) if uses_webhook else None,
        )

    @staticmethod
    def _check_portfolio(records: RuleRecords, user_id: int, portfolio_id: int | None) -> None:
        if portfolio_id is None:
            return
        if records.portfolio_owner(portfolio_id) != user_id:
            raise InvalidInput(
                "portfolio_id: no such portfolio of yours",
                errors=[{"field": "portfolio_id", "message": "no such portfolio of yours"}],
            )

    def _check_webhooks(self, actions: list[Action], *, accepted: frozenset[str] = frozenset()) -> None:
        """Refuse webhook targets the delivery would refuse (same policy): 422 naming the action.
        URLs in `accepted` (unchanged by a PATCH) are not re-resolved."""
        errors = [
            {"field": f"actions.{i}.url", "message": f"webhook target refused: {why}"}
            for i, action in enumerate(actions)
            if action.type == "webhook"
            and str(action.url) not in accepted
            and (why := self._egress.refusal(str(action.url)))
        ]
        if errors:
            raise InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)

    @staticmethod
    def _check_destinations(records: RuleRecords, user_id: int, actions: list[Action]) -> None:
        """A deliver action names only destinations of the rule's owner: 422 naming the action."""
        errors = []
        for i, action in enumerate(actions):
            if action.type != "deliver" or not action.destinations:
                continue
            owned = records.owned_destinations(user_id, action.destinations)
            missing = [d for d in action.destinations if d not in owned]
            if missing:
                errors.append(
                    {"field": f"actions.{i}.destinations", "message": f"no such destination of yours: {missing[0]}"}
                )
        if errors:
            raise InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)

    def create(self, user_id: int, spec: RuleSpec) -> RuleOut:
        uses_webhook = any(a.type == "webhook" for a in spec.actions)
        with self._rules.transaction() as records:
            self._check_portfolio(records, user_id, spec.portfolio_id)
            ensure_rule_allowed(
                records,
                user_id,
                cadence_seconds=spec.cadence_seconds,
                uses_webhook=uses_webhook,
                enabling_new=spec.enabled,
            )
            self._check_webhooks(spec.actions)
            self._check_destinations(records, user_id, spec.actions)
            row = records.insert(user_id, _values(spec))
        return self._out(row)

    @staticmethod
    def _row(records: RuleRecords, user_id: int, rule_id: int, *, lock: bool = False) -> dict[str, Any]:
        row = records.find(user_id, rule_id, lock=lock)
        if row is None:
            raise NotFound(f"no rule {rule_id} of yours")
        return row

    def get(self, user_id: int, rule_id: int) -> RuleOut:
        with self._rules.session() as records:
            return self._out(self._row(records, user_id, rule_id))

    def list(self, user_id: int, *, cursor: str | None = None, limit: int = 50) -> RulePage:
        with self._rules.session() as records:
            rows = records.page(user_id, before=_cursor(cursor), limit=limit + 1)
        items = [self._out(r) for r in rows[:limit]]
        return RulePage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)

    def update(self, user_id: int, rule_id: int, patch: RulePatch) -> RuleOut:
        with self._rules.transaction() as records:
            row = self._row(records, user_id, rule_id, lock=True)
            current = self._out(row)
            merged = current.model_dump(
                include={
                    "name",
                    "portfolio_id",
                    "trigger",
                    "conditions",
                    "actions",
                    "cadence_seconds",
                    "cooldown_seconds",
                    "enabled",
                },
                mode="json",
            )
            if current.trigger is None:  # an invalid stored definition: merge the patch into it as stored
                stored = row["definition"] if isinstance(row["definition"], dict) else {}
                merged.update({k: stored.get(k) for k in ("trigger", "conditions", "actions")})
            merged.update(patch.model_dump(mode="json", exclude_unset=True))
            try:
                spec = RuleSpec.model_validate(merged)
            except ValidationError as exc:
                raise validation_problem(exc) from exc
            self._check_portfolio(records, user_id, spec.portfolio_id)
            uses_webhook = any(a.type == "webhook" for a in spec.actions)
            if spec.enabled:
                ensure_rule_allowed(
                    records,
                    user_id,
                    cadence_seconds=spec.cadence_seconds,
                    uses_webhook=uses_webhook,
                    enabling_new=not current.enabled,
                )
            self._check_webhooks(
                spec.actions, accepted=frozenset(str(a.url) for a in current.actions if a.type == "webhook")
            )
            self._check_destinations(records, user_id, spec.actions)
            values = _values(spec)
            # A new trigger starts armed.
            changed = values.definition != current.model_dump_json(include={"trigger", "conditions", "actions"})
            updated = records.update(user_id, rule_id, values, rearm=changed)
        assert updated is not None
        return self._out(updated)

    def delete(self, user_id: int, rule_id: int) -> None:
        """Delete the rule and cancel its pending webhook retries (one transaction)."""
        with self._rules.transaction() as records:
            self._row(records, user_id, rule_id, lock=True)
            records.delete(user_id, rule_id)

    def executions(self, user_id: int, rule_id: int, *, cursor: str | None = None, limit: int = 50) -> ExecutionPage:
        with self._rules.session() as records:
            self._row(records, user_id, rule_id)
            rows = records.executions(rule_id, before=_cursor(cursor), limit=limit + 1)
        items = [Execution.model_validate(r) for r in rows[:limit]]
        return ExecutionPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)

    def notifications(
        self, user_id: int, *, cursor: str | None = None, limit: int = 50, unread_only: bool = False
    ) -> NotificationPage:
        with self._rules.session() as records:
            rows = records.notifications(user_id, before=_cursor(cursor), limit=limit + 1, unread_only=unread_only)
        items = [Notification.model_validate(r) for r in rows[:limit]]
        return NotificationPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)

    def dry_run(self, user_id: int, rule_id: int) -> DryRun:
        """Evaluate the rule now against current data; report what would happen, change nothing."""
        # numpy-backed modules load only here: the API's other routes never pay for them.
        from tidewatch.rules.reference import SnapshotView, evaluate_one
        from tidewatch.rules.ruleset import RuleRecord, RuleSet
        from tidewatch.rules.snapshot import take_snapshot

        with self._rules.session() as records:
            row = self._row(records, user_id, rule_id)
        if self._sources is None:
            raise InvalidInput("dry runs are not configured on this deployment")
        record = RuleRecord(
            rule_id=int(row["id"]),
            user_id=user_id,
            portfolio_id=row["portfolio_id"],
            definition=RuleDefinition.model_validate(row["definition"]),
            cadence_seconds=int(row["cadence_seconds"]),
            cooldown_seconds=int(row["cooldown_seconds"]),
            armed=bool(row["armed"]),
            last_fired_at=row["last_fired_at"],
        )
        now = self._clock()
        needs = RuleSet.from_records([record]).needs()
        snapshot = take_snapshot(
            needs, at=now, markets=self._sources.markets, positions=self._sources.positions, risk=self._sources.risk
        )
        outcome = evaluate_one(record, SnapshotView.of(snapshot), now.timestamp())
        explained = outcome.explain()
        return DryRun(
            rule_id=record.rule_id,
            evaluated_at=now,
            would_fire=outcome.fire,
            matched=explained["matched"],
            armed=record.armed,
            cooling_down=outcome.cooling_down,
            trigger=explained["trigger"],
            conditions=explained["conditions"],
            conditions_ok=outcome.conditions_ok,
            actions=[_describe(a) for a in record.definition.actions] if outcome.fire else [],
        )
