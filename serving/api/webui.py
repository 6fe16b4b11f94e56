"""Serves the web UI's static files: `/` is the app, `/ui/…` its modules, styles and images, and
`/ui/vendor/…` the installed browser library files named in `webui.VENDOR` (one route per file,
so nothing else under `node_modules` is reachable)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from serving.http_errors import error_response
from webui import INSTALL_COMMAND, VENDOR
from webui import STATIC_DIR as STATIC

VENDOR_CACHE = "public, max-age=3600"


def _vendor_route(app: FastAPI, name: str, path: Path) -> None:
    @app.get(f"/ui/vendor/{name}", include_in_schema=False)
    def vendor_file() -> Response:
        if not path.is_file():
            return error_response(404, "not_found", f"{name} is not installed: run {INSTALL_COMMAND}")
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": VENDOR_CACHE})


def mount(app: FastAPI) -> None:
    """Add the UI routes (not part of the API schema) when the UI files are present."""
    if not (STATIC / "index.html").is_file():
        return

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    for name, path in VENDOR.items():
        _vendor_route(app, name, path)
    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
