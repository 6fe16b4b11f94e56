"""The API's front door: cheap refusals first, and no body is read for a caller who may not send one.

For each request, before any route runs:

1. an announced body over the route's limit is refused (413) without reading a byte;
2. a route that needs a credential authenticates it here, with the code of the `authenticate`
   dependency (which then reuses the principal), in worker threads of its own (a flood of
   credentials, valid or not, cannot take the threads every other route runs on); a refusal
   (401, CSRF 403, 429) is sent before a byte of the body is read;
3. integer path and query parameters beyond SQL's range are refused (400);
4. JSON bodies (every route but uploads) are read in full under their size limit and deadline,
   refused when they hold text that is not Unicode (400), then handed to the route; uploads
   stream through with their own limit, idle timeout and deadline.

A client that disconnects while its body is read ends the request quietly. A response sent
before the body was read in full closes the connection, so a refused body is never drained.
"""

from __future__ import annotations

import anyio
import structlog
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import SillokError
from serving.api.bootstrap import ApiServices
from serving.api.deps import establish
from serving.api.inputs import refuse_lone_surrogates, refuse_out_of_range
from serving.api.limits import BodyLimit, carries_body
from serving.api.route_table import RouteTable
from serving.http_errors import sillok_error_response

log = structlog.get_logger(__name__)
AUTH_THREADS = 4  # credentials checked at once; the others wait without holding a thread


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the buffered body once, then the client's own messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _closing_unless_read(send: Send, body: BodyLimit) -> Send:
    """Adds `Connection: close` to a response that starts before the body was read in full."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and not body.complete:
            MutableHeaders(scope=message)["connection"] = "close"
        await send(message)

    return closing


class EdgeGate:
    """Pure ASGI middleware applying the steps above; see the module documentation."""

    def __init__(
        self, app: ASGIApp, table: RouteTable, container: ApiServices, upload_max_bytes: int
    ) -> None:
        self._app = app
        self._table = table
        self._container = container
        server = container.settings.server
        self._json_max = server.max_json_kb * 1024
        self._upload_max = upload_max_bytes
        self._idle_s = server.body_timeout_s
        self._upload_s = server.upload_timeout_s
        self._auth_threads = anyio.CapacityLimiter(AUTH_THREADS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gate one request."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        found = self._table.lookup(scope)
        upload = found is not None and found[0].upload
        body = BodyLimit(
            receive,
            self._upload_max if upload else self._json_max,
            self._idle_s,
            self._upload_s if upload else self._idle_s,
        )
        has_body = carries_body(scope)
        reply = _closing_unless_read(send, body) if has_body else send
        try:
            body.check_declared(scope)
            if found is not None:
                rules, path_params = found
                if rules.authenticated:
                    request = Request(scope)
                    await anyio.to_thread.run_sync(
                        establish, request, self._container, limiter=self._auth_threads
                    )
                query = QueryParams(scope.get("query_string", b""))
                refuse_out_of_range(
                    [(n, path_params[n]) for n in rules.integer_path_params if n in path_params]
                    + [(n, v) for n, v in query.multi_items() if n in rules.integer_query_params]
                )
            if not has_body or upload:
                buffered = None
            else:
                buffered = await body.read_all()
                if buffered is None:
                    log.info("client_disconnected", path=scope.get("path"), method=scope.get("method"))
                    return
                refuse_lone_surrogates(buffered)
        except SillokError as exc:
            await sillok_error_response(exc)(scope, receive, reply)
            return
        if buffered is not None:
            await self._app(scope, _replay(buffered, receive), send)
        elif upload and has_body:
            await self._app(scope, body.receive, reply)
        else:
            await self._app(scope, receive, send)
