"""Automation rules and notifications: CRUD, dry run, execution history.

`create_router(authenticate=..., service=...)` builds the routes around any bearer-token dependency
(returns claims with `user_id`) and any provider of the `RulesService`; `router` is the API's own,
bound to `CurrentUser`'s check, the per-IP rate limit and the app's rules service (`api.deps`).
"""

# No `from __future__ import annotations`: the route signatures use the factory's local
# `User`/`Service` aliases, which FastAPI must see as real objects, not strings.
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.params import Depends as DependsParam

from api.deps import current_claims, limit_by_ip, rules_service
from tidewatch.rules.model import RulePatch, RuleSpec
from tidewatch.rules.schema import rule_json_schema
from tidewatch.rules.service import DryRun, ExecutionPage, NotificationPage, RuleOut, RulePage, RulesService

RuleId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Rule id.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=32, description="`next_cursor` of the previous page.")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such rule of yours (problem+json)."}}
_LIMITS: dict[int | str, dict[str, Any]] = {
    402: {"description": "Plan limit reached: number of rules, cadence or webhooks (problem+json)."},
    422: {"description": "Invalid rule; `errors[].field` names the offending field (problem+json)."},
}


def create_router(
    *,
    authenticate: Callable[..., Any],
    service: Callable[..., RulesService],
    dependencies: Sequence[DependsParam] = (),
) -> APIRouter:
    User = Annotated[Any, Depends(authenticate)]
    Service = Annotated[RulesService, Depends(service)]
    router = APIRouter(
        tags=["rules"],
        dependencies=list(dependencies),
        responses={401: {"description": "Missing or invalid access token (problem+json)."}},
    )

    @router.get("/rules/schema")
    def rule_schema(user: User) -> dict[str, Any]:
        """The published JSON Schema every rule is validated against (docs/rule.schema.json)."""
        return rule_json_schema()

    @router.post("/rules", status_code=201, responses=_LIMITS)
    def create_rule(body: RuleSpec, user: User, svc: Service, response: Response) -> RuleOut:
        """Create a rule (validated against docs/rule.schema.json)."""
        rule = svc.create(user.user_id, body)
        response.headers["Location"] = f"/rules/{rule.id}"
        return rule

    @router.get("/rules")
    def list_rules(user: User, svc: Service, cursor: Cursor = None, limit: Limit = 50) -> RulePage:
        return svc.list(user.user_id, cursor=cursor, limit=limit)

    @router.get("/rules/{rule_id}", responses=_NOT_FOUND)
    def get_rule(rule_id: RuleId, user: User, svc: Service) -> RuleOut:
        return svc.get(user.user_id, rule_id)

    @router.patch("/rules/{rule_id}", responses={**_NOT_FOUND, **_LIMITS})
    def update_rule(rule_id: RuleId, body: RulePatch, user: User, svc: Service) -> RuleOut:
        """Change any fields; the merged rule is validated as a whole. A changed trigger re-arms."""
        return svc.update(user.user_id, rule_id, body)

    @router.delete("/rules/{rule_id}", status_code=204, responses=_NOT_FOUND)
    def delete_rule(rule_id: RuleId, user: User, svc: Service) -> Response:
        svc.delete(user.user_id, rule_id)
        return Response(status_code=204)

    @router.post("/rules/{rule_id}/test", responses=_NOT_FOUND)
    def test_rule(rule_id: RuleId, user: User, svc: Service) -> DryRun:
        """Dry run: evaluate now against current data and say what would happen. No action runs."""
        return svc.dry_run(user.user_id, rule_id)

    @router.get("/rules/{rule_id}/executions", responses=_NOT_FOUND)
    def rule_executions(
        rule_id: RuleId, user: User, svc: Service, cursor: Cursor = None, limit: Limit = 50
    ) -> ExecutionPage:
        return svc.executions(user.user_id, rule_id, cursor=cursor, limit=limit)

    @router.get("/notifications")
    def list_notifications(
        user: User,
        svc: Service,
        cursor: Cursor = None,
        limit: Limit = 50,
        unread: Annotated[bool, Query(description="Only unread notifications.")] = False,
    ) -> NotificationPage:
        return svc.notifications(user.user_id, cursor=cursor, limit=limit, unread_only=unread)

    return router


router = create_router(authenticate=current_claims, service=rules_service, dependencies=[Depends(limit_by_ip)])
