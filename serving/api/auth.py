"""Web UI sign-in: local accounts with a session cookie (HttpOnly) and a CSRF token."""

from __future__ import annotations

import hmac
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from core.errors import Unauthenticated
from serving.api.bootstrap import ApiServices
from serving.api.deps import CSRF_COOKIE, SESSION_COOKIE, ContainerDep, CurrentPrincipal, client_ip
from serving.api.responses import AUTHENTICATED, PUBLIC, SIGN_IN, AuthConfig, SignedIn

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_BAD_LOGIN = "invalid username or password"
_PENDING_COOKIE = "sillok_oidc"
_PENDING_PATH = "/api/v1/auth/oidc"


class Login(BaseModel):
    """`POST /api/v1/auth/login`."""

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


@router.get("/config", response_model=AuthConfig, responses=PUBLIC)
def config(container: ContainerDep) -> dict[str, Any]:
    """How the web UI may sign in."""
    oidc = container.settings.oidc.issuer is not None and container.settings.oidc.client_id is not None
    return {"local": True, "oidc": oidc, "oidc_login_url": "/api/v1/auth/oidc/start" if oidc else None}


@router.post("/login", response_model=SignedIn, responses=SIGN_IN)
async def login(body: Login, request: Request, response: Response, container: ContainerDep) -> dict[str, Any]:
    """Check a local account's password and open a session (cookie) with a CSRF token.

    Failed sign-ins slow further attempts down, and refuse one username from one address after
    too many (429); they never lock an account (`AbuseLimits.sign_in_delay`).
    """
    address = client_ip(request)
    delay = await run_in_threadpool(container.abuse_limits.sign_in_delay, address, body.username)
    if delay:
        await anyio.sleep(delay)  # every other request goes on meanwhile
    return await run_in_threadpool(_sign_in, body, request, response, container, address)


def _sign_in(
    body: Login, request: Request, response: Response, container: ApiServices, address: str
) -> dict[str, Any]:
    limits = container.abuse_limits
    accepted = container.passwords.check(body.username, body.password)
    if not accepted or container.users.is_service(body.username):  # service accounts never sign in
        limits.sign_in_failed(address, body.username)
        container.audit.record(body.username, "login.failed", "web", {"address": address})
        raise Unauthenticated(_BAD_LOGIN)
    limits.signed_in(address, body.username)
    opened = container.web_sessions.open(body.username)
    principal = container.users.principal(body.username)
    secure = request.url.scheme == "https"  # the server enforces expiry; the cookies end with the browser
    response.set_cookie(
        SESSION_COOKIE, opened.token, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(CSRF_COOKIE, opened.csrf, httponly=False, samesite="strict", secure=secure, path="/")
    container.audit.record(principal, "login", "web", {"address": address})
    return {
        "username": principal.username,
        "groups": sorted(principal.groups),
        "admin": principal.is_admin,
        "csrf": opened.csrf,
    }


@router.post("/logout", status_code=204, responses=AUTHENTICATED)
def logout(request: Request, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """End the caller's browser session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        container.web_sessions.close(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    container.audit.record(principal, "logout", "web", {})
    return response


def _finish_login(
    response: Response, request: Request, container: ApiServices, username: str
) -> dict[str, Any]:
    """Open a session for `username`: the HttpOnly session cookie and the readable CSRF cookie."""
    opened = container.web_sessions.open(username)
    secure = request.url.scheme == "https"  # the server enforces expiry; the cookies end with the browser
    response.set_cookie(
        SESSION_COOKIE, opened.token, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(CSRF_COOKIE, opened.csrf, httponly=False, samesite="strict", secure=secure, path="/")
    principal = container.users.principal(username)
    return {
        "username": principal.username,
        "groups": sorted(principal.groups),
        "admin": principal.is_admin,
        "csrf": opened.csrf,
    }


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/oidc/start", include_in_schema=False)
def oidc_start(request: Request, container: ContainerDep) -> Response:
    """Send the browser to the identity provider (authorization code flow with PKCE)."""
    pending = container.oidc_login.start(_callback_url(request))
    response = RedirectResponse(pending.url, status_code=303)
    value = ".".join((pending.state, pending.nonce, pending.verifier))
    response.set_cookie(
        _PENDING_COOKIE,
        value,
        max_age=600,
        httponly=True,
        samesite="lax",
        path=_PENDING_PATH,
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/oidc/callback", include_in_schema=False, name="oidc_callback")
def oidc_callback(request: Request, container: ContainerDep, code: str = "", state: str = "") -> Response:
    """The provider's redirect back: check the state, exchange the code, open a session."""
    pending = request.cookies.get(_PENDING_COOKIE, "").split(".")
    if len(pending) != 3 or not code or not hmac.compare_digest(pending[0].encode(), state.encode()):
        raise Unauthenticated("the sign-in could not be verified; start again")
    principal = container.oidc_login.finish(code, _callback_url(request), pending[2], pending[1])
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(_PENDING_COOKIE, path=_PENDING_PATH)
    _finish_login(response, request, container, principal.username)
    container.audit.record(principal, "login", "web", {"address": client_ip(request), "via": "oidc"})
    return response
