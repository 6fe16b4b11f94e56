"""The Teams bot: `POST /api/messages` on the Microsoft 365 Agents SDK's activity schema.

Every activity's channel token is verified whenever `teams.app_id` is set; without an app id
every activity is refused unless `teams.anonymous` is on (a local emulator). An activity is
acknowledged with 202 at once and answered by a worker through the Bot Connector, only at an
allow-listed service URL, since Teams retries a request still open after about 15 s.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from microsoft_agents.activity import Activity
from pydantic import ValidationError

from serving.bots.bootstrap import BotServices
from serving.bots.metrics import EVENTS
from serving.bots.teams.auth import ChannelTokens, TokenRefused
from serving.bots.teams.connector import Connector, allowed
from serving.bots.teams.turns import Busy, TeamsTurns

log = structlog.get_logger(__name__)
MAX_BODY = 256 * 1024  # Teams activities are well under 100 KB


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def router(services: BotServices) -> APIRouter:
    """The router carrying `POST /api/messages`, answering through `services.answerer`."""
    settings = services.settings.teams
    tokens = ChannelTokens(settings) if settings.app_id else None
    turns = TeamsTurns(services.answerer, Connector(settings))
    routes = APIRouter(on_shutdown=[turns.close])

    @routes.post("/api/messages", include_in_schema=False)
    async def messages(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "payload_too_large", "activity too large")
        try:
            activity = Activity.model_validate_json(body)
        except ValidationError:
            return _error(400, "bad_request", "not a Bot Framework activity")
        if tokens is not None:
            try:
                await _validate(tokens, request.headers.get("authorization"), activity.service_url)
            except TokenRefused as exc:
                EVENTS.labels("teams", "bad_signature").inc()
                log.warning("teams_token_refused", reason=str(exc))
                return _error(401, "unauthorized", "the channel's token is not valid for this bot")
        elif not settings.anonymous:
            return _error(401, "unauthorized", "this bot has no app id; activities are refused")
        if not allowed(activity.service_url, settings):
            log.warning("teams_service_url_refused", service_url=activity.service_url)
            return _error(403, "forbidden", "the activity's service URL is not allowed")
        if activity.conversation is None or activity.from_property is None:
            return _error(400, "bad_request", "an activity needs a conversation and a sender")
        try:
            turns.submit(activity)
        except Busy:
            return _error(503, "overloaded", "the bot is busy; retry later")
        if activity.type == "invoke":
            return JSONResponse(_invoke_reply(), status_code=200)
        return Response(status_code=202)

    return routes


async def _validate(tokens: ChannelTokens, authorization: str | None, service_url: str | None) -> None:
    import asyncio

    # Key and metadata fetches block; keep them off the event loop.
    await asyncio.to_thread(tokens.validate, authorization, service_url)


def _invoke_reply() -> dict[str, Any]:
    """The card action's immediate answer (the work itself runs in a worker)."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "Thanks!"}
