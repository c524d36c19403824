"""Rules and notifications routes: the rules area's router, bound to the API's auth and services.

The routes themselves live in `api.routes_rules` (built by the rules area around a `RulesService`);
this module supplies the bearer-token dependency, the per-IP rate limit and the service, built once
per app from its deps: plan limits come from billing (checked against the plan in the database),
dry runs read the same Postgres market and position sources as the rules function's tick.
"""

from __future__ import annotations

from fastapi import Depends, Request

from api.routes_rules import create_router
from api.security import current_claims, limit_by_ip
from tidewatch.rules.egress import EgressPolicy
from tidewatch.rules.repository import PostgresRules
from tidewatch.rules.service import RulesService
from tidewatch.rules.settings import RulesSettings


def rules_service(request: Request) -> RulesService:
    state = request.app.state
    if getattr(state, "rules_service", None) is None:
        # Built on the first rules request: the dry-run sources bring numpy, which no other
        # route needs at cold start.
        from tidewatch.rules.settings import signing_key
        from tidewatch.rules.sources import PostgresMarketSource, SnapshotPositionSource
        from tidewatch.rules.tick import TickSources

        database = state.deps.database
        settings = RulesSettings()
        state.rules_service = RulesService(
            PostgresRules(database),
            signing_key=signing_key(settings),
            sources=TickSources(PostgresMarketSource(database), SnapshotPositionSource(database), None),
            # The same policy as the rules function's deliveries, so creation refuses what delivery would.
            egress=EgressPolicy(allow_private=settings.webhook_allow_private_targets),
        )
    service: RulesService = state.rules_service
    return service


router = create_router(authenticate=current_claims, service=rules_service, dependencies=[Depends(limit_by_ip)])
