"""The bots' HTTP entrance: `POST /slack/events` and `POST /api/messages`, with probes.

`sillok bots` serves this app on its own (production: a Deployment of its own, the only pods
allowed to reach Slack and Teams); `sillok serve` includes the same platform routers in the
API app, so one machine answers both platforms with nothing else to run.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from serving.bots.bootstrap import BotServices
from serving.http_errors import ErrorBoundary, install_error_handlers


def platform_routers(services: BotServices) -> list[APIRouter]:
    """The routers of the platforms configured to answer over HTTP."""
    routers = []
    if services.settings.slack.http_enabled:
        from serving.bots.slack import router as slack_router

        routers.append(slack_router(services))
    if services.settings.teams.app_id or services.settings.teams.anonymous:
        from serving.bots.teams import router as teams_router

        routers.append(teams_router(services))
    return routers


def _ready(services: BotServices) -> dict[str, str]:
    checks = {}
    try:
        with services.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if services.settings.qdrant.url:
        try:
            services.index.count()
            checks["vector_index"] = "ok"
        except Exception as exc:
            checks["vector_index"] = f"unavailable: {type(exc).__name__}"
    return checks


def create_bots_app(services: BotServices, routers: Sequence[APIRouter] | None = None) -> FastAPI:
    """The bots process's app: the platform routes (`routers`, else built from the settings),
    `/healthz`, `/readyz` and `/metrics`."""
    app = FastAPI(title="Sillok bots", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        checks = _ready(services)
        failing = sorted(name for name, state in checks.items() if state != "ok")
        if failing:
            error = {"code": "dependency_unavailable", "message": f"not ready: {', '.join(failing)}"}
            return JSONResponse({"error": error, "checks": checks}, status_code=503)
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    for router in platform_routers(services) if routers is None else routers:
        app.include_router(router)
    app.add_middleware(ErrorBoundary)
    return app
