"""The API docs page of the local run, with Swagger UI's assets served from this machine.

FastAPI's own `/docs` page loads Swagger UI's script and stylesheet from a CDN, so it is blank
offline. The local gateway answers `/api/docs` itself with the same page pointing at
`/api/docs/assets/`, served from the `fastapi-offline` package's bundled Swagger UI 5 (which
renders OpenAPI 3.1, the version FastAPI emits). The package is a `local` extra only: a deployed
stack keeps FastAPI's page, where browsers are online.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, Response

DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets/"
_ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}


@cache
def assets_dir() -> Path | None:
    """The folder of bundled Swagger UI assets, or None when the package is not installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if all((folder / name).is_file() for name in _ASSETS) else None


def offline_docs(path: str, *, openapi_url: str, prefix: str = "/api") -> Response | None:
    """The docs page or one of its assets for `path` (relative to the API prefix); None to pass on."""
    folder = assets_dir()
    if folder is None:
        return None
    if path == DOCS_PATH:
        from fastapi.openapi.docs import get_swagger_ui_html

        base = prefix + DOCS_ASSETS
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title="Tidewatch API - Swagger UI",
            swagger_js_url=base + "swagger-ui-bundle.js",
            swagger_css_url=base + "swagger-ui.css",
            swagger_favicon_url=base + "favicon.png",
        )
        return HTMLResponse(page.body, headers={"Cache-Control": "no-store"})
    name = path[len(DOCS_ASSETS) :] if path.startswith(DOCS_ASSETS) else ""
    if name not in _ASSETS:
        return Response(status_code=404)
    return FileResponse(folder / name, headers={"Cache-Control": "public, max-age=86400"})
