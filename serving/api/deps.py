"""Request dependencies: the container and the authenticated, rate-limited principal."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request

from core.acl import Principal
from core.auth.oidc import REJECTION_MESSAGE, InvalidToken
from core.errors import Unauthenticated
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


def authenticate(request: Request, container: Annotated[Container, Depends(get_container)]) -> Principal:
    """The principal behind `Authorization: Bearer <API key or OIDC access token>`.

    Anything else is 401 with one message whatever the reason. Addresses that presented too
    many rejected credentials get 429 before their next one is even looked at, and every
    accepted request counts against its user's (and API key's) rate limit.
    """
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthenticated("missing bearer token")
    limits = container.abuse_limits
    address = client_ip(request)
    limits.check_failures(address)
    principal, kind = _resolve(container, credential)
    if principal is None:
        limits.record_failure(address)
        raise Unauthenticated(REJECTION_MESSAGE)
    limits.request(principal, credential if kind == "api_key" else None)
    request.state.principal = principal
    request.state.credential_kind = kind
    return principal


ContainerDep = Annotated[Container, Depends(get_container)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
