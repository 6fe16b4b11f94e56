"""Slack: `POST /slack/events` (HTTP Events and interactivity) and Socket Mode, on Bolt."""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

from serving.bots.bootstrap import BotServices
from serving.bots.metrics import EVENTS


def router(services: BotServices) -> APIRouter:
    """`POST /slack/events`: every request's signature checked by Bolt before anything runs."""
    from serving.bots.slack.app import build_app

    app = build_app(services)
    routes = APIRouter()

    @routes.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        # Bolt's dispatch waits up to 3 s for a listener's ack(): off the event loop.
        reply = await anyio.to_thread.run_sync(app.dispatch, to_bolt_request(request, body))
        if reply.status == 401:
            EVENTS.labels("slack", "bad_signature").inc()
        elif request.headers.get("x-slack-retry-num"):
            EVENTS.labels("slack", "retry").inc()
        return to_starlette_response(reply)

    return routes


def start_socket_mode(services: BotServices) -> Callable[[], None]:
    """Connect to Slack in Socket Mode in the background (no public URL needed); the stop function."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from serving.bots.slack.app import build_app

    token = services.settings.slack.app_token
    assert token is not None  # `socket_enabled` settings only
    handler = SocketModeHandler(build_app(services), token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    return handler.close
