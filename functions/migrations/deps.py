"""Collaborators of the migrations function, built once per container."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from migrations.cfn import ResponseSender, put_response
from migrations.logic import Migrate
from tidewatch.db import Database
from tidewatch.migrate import apply_migrations


@dataclass(frozen=True)
class MigrationsDeps:
    migrate: Migrate  # applies every pending migration, returns the names applied
    send: ResponseSender  # answers CloudFormation at the custom resource's ResponseURL


def build_deps(database: Database, *, send: ResponseSender = put_response) -> MigrationsDeps:
    return MigrationsDeps(migrate=lambda: apply_migrations(database), send=send)


@lru_cache(maxsize=1)
def production_deps() -> MigrationsDeps:
    from tidewatch import runtime

    return build_deps(runtime.database())
