"""Request dependencies: the container and the authenticated, rate-limited principal."""

from __future__ import annotations

import hmac
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from core.acl import Principal
from core.auth.oidc import REJECTION_MESSAGE, InvalidToken
from core.errors import CsrfFailed, Unauthenticated
from core.users import KEY_PREFIX
from serving.api.bootstrap import ApiServices
from serving.api.scopes import enforce

log = structlog.get_logger(__name__)


async def get_container(request: Request) -> ApiServices:
    """The process's container (async: nothing blocks, so no worker thread is taken for it)."""
    container: ApiServices = request.app.state.container
    return container


def client_ip(request: Request) -> str:
    """The caller's address (behind a proxy, as the server's trusted proxy headers give it)."""
    return request.client.host if request.client else "unknown"


def _resolve(container: ApiServices, credential: str) -> tuple[Principal | None, str]:
    """The credential's principal and its kind (`api_key` or `oidc`), or None."""
    principal = container.users.authenticate_key(credential)  # API keys and the bootstrap token
    if principal is not None:
        return principal, "api_key"
    oidc = container.oidc
    if oidc is not None and not credential.startswith(KEY_PREFIX) and credential.count(".") == 2:
        try:
            return oidc.authenticate(credential), "oidc"
        except InvalidToken as exc:
            log.info("bearer_token_rejected", reason=exc.reason)
    return None, ""


SESSION_COOKIE = "sillok_session"
CSRF_COOKIE = "sillok_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _from_session(request: Request, container: ApiServices, token: str) -> tuple[Principal | None, str]:
    """The principal of a browser session; unsafe methods must echo its CSRF token."""
    found = container.web_sessions.resolve(token)
    if found is None:
        return None, ""
    principal, csrf = found
    if request.method not in _SAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, "").encode(), csrf.encode()
    ):
        raise CsrfFailed("missing or wrong X-CSRF-Token header")
    return principal, "session"


def establish(request: Request, container: ApiServices) -> Principal:
    """The principal behind `Authorization: Bearer <API key or OIDC access token>`, or behind
    the web UI's session cookie (with its CSRF token on state-changing requests).

    Anything else is 401 with one message whatever the reason; once an address has presented
    too many rejected credentials, its rejected ones get 429 instead (valid ones are still
    served). Every accepted request counts against its user's (and API key's) rate limit. The
    principal is kept in the request's state; this blocks (database, identity provider), so
    async callers run it in a worker thread.
    """
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    bearer = scheme.lower() == "bearer" and bool(credential)
    if not bearer and not cookie:
        raise Unauthenticated("missing bearer token")
    if bearer:
        principal, kind = _resolve(container, credential)
    else:
        principal, kind = _from_session(request, container, cookie or "")
    limits = container.abuse_limits
    if principal is None:
        limits.credential_rejected(client_ip(request))
        raise Unauthenticated(REJECTION_MESSAGE)
    limits.request(principal, credential if kind == "api_key" else None)
    request.state.principal = principal
    request.state.credential_kind = kind
    return principal


async def authenticate(
    request: Request, container: Annotated[ApiServices, Depends(get_container)]
) -> Principal:
    """The caller's principal: the one the edge established before the body was read
    (`serving.api.gate`), or, for a request that did not pass it, established now.

    A scoped API key is refused here (403 `insufficient_scope`) on a route that does not
    declare one of its scopes (`serving.api.scopes`), before the route reads its body.
    """
    principal: Principal
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        principal = found
    else:
        principal = await run_in_threadpool(establish, request, container)
    enforce(principal, request.scope.get("route"))
    return principal


ContainerDep = Annotated[ApiServices, Depends(get_container)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
