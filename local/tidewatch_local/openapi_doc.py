"""Writes docs/openapi.json from the API app itself, so the committed contract cannot drift.

    python -m tidewatch_local.openapi_doc          # rewrite docs/openapi.json
A test checks that the committed file equals what this renders; `cd dashboard && npm run gen:api`
then regenerates the dashboard's typed client from it.
"""

from __future__ import annotations

import json
import sys

from fastapi import FastAPI

from tidewatch_local.template import REPO_ROOT

DOCS_PATH = REPO_ROOT / "docs" / "openapi.json"


def documentation_app() -> FastAPI:
    """An app for generating documents only: collaborators are never contacted."""
    import redis

    from api.app import create_app
    from api.deps import ApiDeps
    from tidewatch.db import Database
    from tidewatch.identity.settings import AuthSettings

    return create_app(
        ApiDeps(
            database=Database("postgresql://docs.invalid/docs"),
            redis=redis.Redis(host="docs.invalid"),
            auth=AuthSettings(jwt_keys={"docs": "d" * 32}),
        )
    )


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    DOCS_PATH.write_text(render(documentation_app()))
    print(f"wrote {DOCS_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
