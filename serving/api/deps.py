"""Request dependencies: the container and the authenticated, rate-limited principal."""

from __future__ import annotations

import hmac
from typing import Annotated

import structlog
from fastapi import Depends, Request

from core.acl import Principal
from core.auth.oidc import REJECTION_MESSAGE, InvalidToken
from core.errors import CsrfFailed, Unauthenticated
from core.users import KEY_PREFIX
from serving.bootstrap import Container

log = structlog.get_logger(__name__)


def get_container(request: Request) -> Container:
    """The process's container."""
    container: Container = request.app.state.container
    return container


def client_ip(request: Request) -> str:
    """The caller's address (behind a proxy, as the server's trusted proxy headers give it)."""
    return request.client.host if request.client else "unknown"


def _resolve(container: Container, credential: str) -> tuple[Principal | None, str]:
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


def _from_session(request: Request, container: Container, token: str) -> tuple[Principal | None, str]:
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


def authenticate(request: Request, container: Annotated[Container, Depends(get_container)]) -> Principal:
    """The principal behind `Authorization: Bearer <API key or OIDC access token>`, or behind
    the web UI's session cookie (with its CSRF token on state-changing requests).

    Anything else is 401 with one message whatever the reason. Addresses that presented too
    many rejected credentials get 429 before their next one is even looked at, and every
    accepted request counts against its user's (and API key's) rate limit.
    """
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if (scheme.lower() != "bearer" or not credential) and not cookie:
        raise Unauthenticated("missing bearer token")
    limits = container.abuse_limits
    address = client_ip(request)
    limits.check_failures(address)
    if scheme.lower() == "bearer" and credential:
        principal, kind = _resolve(container, credential)
    else:
        principal, kind = _from_session(request, container, cookie or "")
    if principal is None:
        limits.record_failure(address)
        raise Unauthenticated(REJECTION_MESSAGE)
    limits.request(principal, credential if kind == "api_key" else None)
    request.state.principal = principal
    request.state.credential_kind = kind
    return principal


ContainerDep = Annotated[Container, Depends(get_container)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
