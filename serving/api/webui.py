"""Serves the web UI's static files: `/` is the app, `/ui/…` its modules, styles and images."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from webui import STATIC_DIR as STATIC


def mount(app: FastAPI) -> None:
    """Add the UI routes (not part of the API schema) when the UI files are present."""
    if not (STATIC / "index.html").is_file():
        return

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
