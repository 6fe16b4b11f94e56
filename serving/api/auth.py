"""Web UI sign-in: local accounts with a session cookie (HttpOnly) and a CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from core.errors import Unauthenticated
from serving.api.deps import CSRF_COOKIE, SESSION_COOKIE, ContainerDep, CurrentPrincipal, client_ip

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_BAD_LOGIN = "invalid username or password"


class Login(BaseModel):
    """`POST /api/v1/auth/login`."""

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


@router.get("/config")
def config(container: ContainerDep) -> dict[str, Any]:
    """How the web UI may sign in."""
    oidc = container.settings.oidc.issuer is not None and container.settings.oidc.client_id is not None
    return {"local": True, "oidc": oidc, "oidc_login_url": "/api/v1/auth/oidc/start" if oidc else None}


@router.post("/login")
def login(body: Login, request: Request, response: Response, container: ContainerDep) -> dict[str, Any]:
    """Check a local account's password and open a session (cookie) with a CSRF token."""
    limits, address = container.abuse_limits, client_ip(request)
    limits.check_failures(address, body.username)
    if not container.passwords.check(body.username, body.password):
        limits.record_failure(address, body.username)
        container.audit.record(body.username, "login.failed", "web", {"address": address})
        raise Unauthenticated(_BAD_LOGIN)
    limits.clear_failures(body.username)
    opened = container.web_sessions.open(body.username)
    principal = container.users.principal(body.username)
    secure = request.url.scheme == "https"  # the server enforces expiry; the cookies end with the browser
    response.set_cookie(
        SESSION_COOKIE, opened.token, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(CSRF_COOKIE, opened.csrf, httponly=False, samesite="strict", secure=secure, path="/")
    container.audit.record(principal.username, "login", "web", {"address": address})
    return {
        "username": principal.username,
        "groups": sorted(principal.groups),
        "admin": principal.is_admin,
        "csrf": opened.csrf,
    }


@router.post("/logout", status_code=204)
def logout(request: Request, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """End the caller's browser session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        container.web_sessions.close(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    container.audit.record(principal.username, "logout", "web", {})
    return response
