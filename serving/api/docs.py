"""The interactive API documentation at `/docs`, served entirely by Sillok.

Swagger UI's files come from the `fastapi-offline` wheel (nothing is loaded from a CDN); the
page has no inline script, so it runs under the same Content-Security-Policy as the web UI.
The schema names the bearer credential on every operation that needs one, so "Authorize" in
the page and generated clients send it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import iter_route_contexts

from serving.http_errors import error_response

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSET_FILES = {  # the only files served from the wheel, with their media types
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
ASSET_CACHE = "public, max-age=86400"
BEARER = "bearer"
_INIT = """window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    validatorUrl: null,
  });
});
"""


def _page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" type="image/png" href="{ASSETS_URL}/favicon.png">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="{DOCS_URL}/init.js"></script>
</body>
</html>
"""


def _dependants(root: Dependant) -> Iterator[Dependant]:
    yield root
    for child in root.dependencies:
        yield from _dependants(child)


def _with_bearer(app: FastAPI, guard: Callable[..., Any], build: Callable[[], dict[str, Any]]) -> None:
    """Name the bearer credential in the schema, on every operation whose route takes `guard`."""
    guarded = {
        (method.lower(), context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(dependant := getattr(context, "dependant", None), Dependant)
        and any(d.call is guard for d in _dependants(dependant))
        for method in context.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`slk_...`, from `sillok users token` or "
            "`POST /api/v1/users/{username}/api-keys`) or an OIDC access token. The web UI's "
            "session cookie with its `X-CSRF-Token` header is accepted too.",
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (method, path) in guarded:
                    operation["security"] = [{BEARER: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI, guard: Callable[..., Any]) -> None:
    """`/docs` (Swagger UI), its init script and its files; the bearer scheme in the schema."""
    page = _page(f"{app.title} API")
    _with_bearer(app, guard, app.openapi)

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get(f"{DOCS_URL}/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get(f"{ASSETS_URL}/{{name}}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        media_type = ASSET_FILES.get(name)
        if media_type is None or not (ASSETS / name).is_file():
            return error_response(404, "not_found", "no such documentation file")
        return FileResponse(ASSETS / name, media_type=media_type, headers={"Cache-Control": ASSET_CACHE})
