"""The bots in a process: their own (`sillok bots`) or hosted by `sillok serve`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import InvalidInput
from serving.cli.console import err

if TYPE_CHECKING:
    from fastapi import APIRouter

    from serving.bots.bootstrap import BotServices
    from serving.factories import Searching


def _noop() -> None:
    return None


def start_platforms(bots: BotServices) -> tuple[list[APIRouter], Callable[[], None]]:
    """The HTTP routers of the configured platforms, and Slack's Socket Mode connected when an
    app token is set (with the function that disconnects it)."""
    from serving.bots.server import platform_routers

    routers = platform_routers(bots)
    stop = _noop
    if bots.settings.slack.socket_enabled:
        from serving.bots.slack import start_socket_mode

        stop = start_socket_mode(bots)
        err.print("Slack: connected in Socket Mode")
    return routers, stop


def hosted_bots(host: Searching) -> tuple[list[APIRouter], Callable[[], None]]:
    """What `sillok serve` adds for the configured bots, over its own root (nothing if none)."""
    from serving.bots.bootstrap import build_bots

    bots = build_bots(shared=host)
    if not bots.enabled:
        return [], _noop
    err.print(f"Bots: {', '.join(bots.enabled)} answered by this process")
    return start_platforms(bots)


def run_bots(host: str, port: int) -> None:
    """`sillok bots`: the bots' own process (production: their own Deployment)."""
    import uvicorn

    from serving.api.http_server import uvicorn_options
    from serving.bots.bootstrap import build_bots
    from serving.bots.server import create_bots_app

    bots = build_bots()
    if not bots.enabled:
        raise InvalidInput("no bot is configured: set SILLOK_SLACK__* or SILLOK_TEAMS__* (see the README)")
    if not bots.settings.qdrant.url:
        raise InvalidInput(
            "a separate bots process needs a Qdrant server (SILLOK_QDRANT__URL); on one machine "
            "`sillok serve` answers the bots itself"
        )
    _ = bots.embedder  # load the model before accepting events
    routers, stop = start_platforms(bots)
    err.print(f"Sillok bots ({', '.join(bots.enabled)}) listening on http://{host}:{port}")
    try:
        uvicorn.run(
            create_bots_app(bots, routers), host=host, port=port, **uvicorn_options(bots.settings.server)
        )
    finally:
        stop()
        bots.close()
