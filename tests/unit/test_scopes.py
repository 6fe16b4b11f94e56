"""Scoped API keys: every route that takes a principal declares its scope (deny by default),
scopes only ever take rights away, and a key can never hold more than its owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session, sessionmaker

from core.acl import Principal
from core.db.engine import make_engine, migrate, session_factory
from core.errors import InvalidInput
from core.settings import Settings
from core.users import SCOPES, ScopeExceedsOwner, UserDirectory
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.api.deps import authenticate
from serving.api.route_table import _dependants
from serving.api.scopes import ANY_KEY, InsufficientScope, declared_scope, enforce

# What each scope opens, by route (the issue's map); a route moved to another scope fails here.
EXPECTED = {
    ("POST", "/api/v1/search"): "search",
    ("POST", "/api/v1/chat"): "chat",
    ("POST", "/v1/chat/completions"): "chat",
    ("GET", "/v1/models"): "chat",
    ("GET", "/api/v1/conversations"): "chat",
    ("GET", "/api/v1/documents"): "documents:read",
    ("GET", "/api/v1/documents/{document_id}"): "documents:read",
    ("GET", "/api/v1/documents/{document_id}/content"): "documents:read",
    ("POST", "/api/v1/documents"): "documents:write",
    ("PUT", "/api/v1/documents/{document_id}/acl"): "documents:write",
    ("DELETE", "/api/v1/documents/{document_id}"): "documents:write",
    ("POST", "/api/v1/documents/{document_id}/retry"): "documents:write",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users/{username}/api-keys"): "admin",
    ("GET", "/api/v1/groups"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/me"): ANY_KEY,
}
# Routes that take a principal but are for browser sessions only (closed to scoped keys).
SESSION_ONLY = {("POST", "/api/v1/auth/logout")}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("scopes")
    settings = Settings(data_dir=root / "data", bootstrap_admin_token="s" * 32, log_level="WARNING")
    container = ApiServices(settings)
    yield create_app(container)
    container.close()


def _api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path and context.methods:
            for method in sorted(context.methods):
                yield method, context.path, route


def test_every_route_that_takes_a_principal_declares_a_scope(app: FastAPI) -> None:
    missing, takers = [], 0
    for method, path, route in _api_routes(app):
        takes_principal = any(d.call is authenticate for d in _dependants(route.dependant))
        takers += takes_principal
        if takes_principal and declared_scope(route) is None and (method, path) not in SESSION_ONLY:
            missing.append(f"{method} {path}")
    assert takers > 25  # the app's authenticated routes were all seen
    assert missing == [], f"routes with a principal but no Scope(...): {missing}"


def test_routes_declare_the_scopes_of_the_map(app: FastAPI) -> None:
    found = {(m, p): declared_scope(r) for m, p, r in _api_routes(app)}
    assert {k: found.get(k) for k in EXPECTED} == EXPECTED


def test_scoped_keys_pass_only_their_scopes_and_sessions_pass_everything(app: FastAPI) -> None:
    routes = {(m, p): r for m, p, r in _api_routes(app)}
    search, users, logout = (
        routes[("POST", "/api/v1/search")],
        routes[("GET", "/api/v1/users")],
        routes[("POST", "/api/v1/auth/logout")],
    )
    session = Principal("hana", is_admin=True, user_id="u1")
    for route in (search, users, logout):
        enforce(session, route)  # no scopes: every right of the principal
    key = Principal("bot", user_id="u2", key_prefix="slk_abcdefgh", scopes=frozenset({"search"}))
    enforce(key, search)
    enforce(key, routes[("GET", "/api/v1/me")])
    with pytest.raises(InsufficientScope, match="'admin' scope"):
        enforce(key, users)
    with pytest.raises(InsufficientScope) as refused:
        enforce(key, logout)  # declares nothing: closed to scoped keys
    assert refused.value.code == "insufficient_scope" and refused.value.status == 403


@pytest.fixture
def directory(tmp_path: Path) -> UserDirectory:
    engine = make_engine(f"sqlite:///{tmp_path / 'users.db'}")
    migrate(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    return UserDirectory(sessions)


def test_keys_carry_their_prefix_scopes_and_never_more_than_the_owner(directory: UserDirectory) -> None:
    directory.add_user("bot", groups=["finance"], service=True)
    directory.add_user("root", admin=True)
    key = directory.issue_key("bot", ["search", "chat", "search"])
    principal = directory.authenticate_key(key)
    assert principal is not None
    assert principal.scopes == {"search", "chat"} and principal.key_prefix == key[:12]
    assert principal.groups == {"finance"}
    with pytest.raises(ScopeExceedsOwner):
        directory.issue_key("bot", ["admin"])
    assert directory.authenticate_key(directory.issue_key("root", ["admin"])) is not None
    with pytest.raises(InvalidInput, match="unknown scope"):
        directory.issue_key("bot", ["everything"])
    with pytest.raises(InvalidInput, match="at least one scope"):
        directory.issue_key("bot", [])
    unscoped = directory.authenticate_key(directory.issue_key("bot"))
    assert unscoped is not None and unscoped.scopes is None
    listed = directory.keys("bot")
    assert [k["scopes"] for k in listed] == [["chat", "search"], None]
    assert set(SCOPES) == {"search", "chat", "documents:read", "documents:write", "admin"}


def test_a_service_account_stays_unbindable(directory: UserDirectory) -> None:
    directory.add_user("bot", service=True)
    assert directory.is_service("bot") and directory.describe("bot")["service"] is True
    assert not directory.is_service("nobody")
    from core.errors import Conflict

    with pytest.raises(Conflict):  # an identity provider never takes a service account over
        directory.provision_oidc("bot", "https://idp example|bot", None, [])
