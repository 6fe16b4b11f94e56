"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from serving.api.errors import install_error_handlers
from serving.api.routes import router
from serving.bootstrap import Container


def create_app(container: Container) -> FastAPI:
    """The API bound to one container; nothing is created at import time."""
    app = FastAPI(
        title="Sillok",
        version="1",
        description="Private answers over company documents, with per-user access control.",
    )
    app.state.container = container
    install_error_handlers(app)
    app.include_router(router)
    return app
