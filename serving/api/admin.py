"""Admin routes: users, groups and API keys. Changes apply to the very next request."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from core.acl import Principal
from core.cursor import DEFAULT_PAGE
from core.errors import Conflict, Forbidden
from serving.api.bootstrap import ApiServices
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import (
    AUTHENTICATED,
    CREATE_USER,
    DELETE_USER,
    FOUND,
    FOUND_WITH_BODY,
    WITH_INPUT,
    GroupList,
    IssuedKey,
    KeyList,
    Me,
    UserList,
    UserRecord,
)
from serving.api.schemas import Cursor, GroupsBody, NewUser, PageLimit
from serving.api.scopes import ANY_KEY, Scope

router = APIRouter(prefix="/api/v1", tags=["admin"])
ADMIN = [Scope("admin")]  # users, groups and keys: a scoped key needs the admin scope
ScopeName = Literal["search", "chat", "documents:read", "documents:write", "admin"]


class NewKey(BaseModel):
    """`POST /api/v1/users/{username}/api-keys` (optional body)."""

    scopes: list[ScopeName] | None = Field(
        default=None,
        max_length=5,
        description="Limit the key to these scopes; left out: every right of its owner.",
        examples=[["search", "chat"]],
    )
    expires_at: datetime | None = Field(
        default=None,
        description="ISO 8601; the key is refused (401) from then on. Left out: until revoked.",
        examples=["2027-01-01T00:00:00Z"],
    )


def require_admin(principal: Principal) -> None:
    """Only admins may pass."""
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")


def _self_or_admin(principal: Principal, username: str) -> None:
    if principal.username != username and not principal.is_admin:
        raise Forbidden("only the user themself or an admin can do this")


def _audit(container: ApiServices, principal: Principal, action: str, detail: dict[str, Any]) -> None:
    container.audit.record(principal, action, "rest", detail)


@router.get("/me", tags=["users"], dependencies=[Scope(ANY_KEY)], response_model=Me, responses=AUTHENTICATED)
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the caller is."""
    return {
        "username": principal.username,
        "groups": sorted(principal.groups),
        "admin": principal.is_admin,
        "key_prefix": principal.key_prefix,
        "scopes": sorted(principal.scopes) if principal.scopes is not None else None,
    }


@router.get("/users", dependencies=ADMIN, response_model=UserList, responses=WITH_INPUT)
def list_users(
    principal: CurrentPrincipal,
    container: ContainerDep,
    cursor: Cursor = None,
    limit: PageLimit = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Users by name, a page at a time (admin); `next_cursor` fetches the next page."""
    require_admin(principal)
    users, after = container.users.list_users(cursor, limit)
    return {"users": users, "next_cursor": after}


@router.post("/users", status_code=201, dependencies=ADMIN, response_model=UserRecord, responses=CREATE_USER)
def create_user(body: NewUser, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """Create a user, or update one (idempotent; admin). `service: true` makes a service
    account: it cannot sign in (so it takes no password) and acts only by API key."""
    require_admin(principal)
    if body.service and body.password is not None:
        raise Conflict("a service account cannot sign in, so it takes no password")
    if body.password is not None and container.users.is_service(body.username):
        raise Conflict(f"{body.username} is a service account and cannot sign in")
    container.users.add_user(body.username, body.email, body.groups, body.admin, service=body.service)
    if body.password is not None:
        container.passwords.set_password(body.username, body.password)
    user = container.users.describe(body.username)
    _audit(container, principal, "user.create", {"user": user})
    return user


@router.get("/users/{username}", dependencies=ADMIN, response_model=UserRecord, responses=FOUND)
def get_user(username: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """A user's record (admin or self)."""
    _self_or_admin(principal, username)
    return container.users.describe(username)


@router.put(
    "/users/{username}/groups", dependencies=ADMIN, response_model=UserRecord, responses=FOUND_WITH_BODY
)
def set_groups(
    username: str, body: GroupsBody, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any]:
    """Replace a user's groups (admin); the next request already uses them."""
    require_admin(principal)
    before = container.users.describe(username)["groups"]
    container.users.set_groups(username, body.groups)
    user = container.users.describe(username)
    _audit(container, principal, "user.groups", {"user": username, "before": before, "after": user["groups"]})
    return user


@router.delete("/users/{username}", status_code=204, dependencies=ADMIN, responses=DELETE_USER)
def delete_user(username: str, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """Delete a user (admin); their keys stop working at once."""
    require_admin(principal)
    before = container.users.describe(username)
    container.users.remove_user(username)
    _audit(container, principal, "user.delete", {"before": before})
    return Response(status_code=204)


@router.get("/users/{username}/api-keys", dependencies=ADMIN, response_model=KeyList, responses=FOUND)
def list_keys(username: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """The user's keys, without the secrets (admin or self)."""
    _self_or_admin(principal, username)
    return {"keys": container.users.keys(username)}


@router.post(
    "/users/{username}/api-keys",
    status_code=201,
    dependencies=ADMIN,
    response_model=IssuedKey,
    responses=FOUND_WITH_BODY,
)
def issue_key(
    username: str, principal: CurrentPrincipal, container: ContainerDep, body: NewKey | None = None
) -> dict[str, Any]:
    """A new API key, shown this once (admin or self), optionally limited to some scopes and
    ending at `expires_at`. It never has more rights than its owner: asking for `admin` for a
    user who is not an admin is 403 `scope_exceeds_owner`."""
    _self_or_admin(principal, username)
    wanted = body or NewKey()
    key = container.users.issue_key(username, wanted.scopes, wanted.expires_at)
    record = next(k for k in container.users.keys(username) if k["prefix"] == key[:12])
    detail = {"user": username, "prefix": key[:12], "scopes": record["scopes"]}
    _audit(container, principal, "key.issue", {**detail, "expires_at": record["expires_at"]})
    return {"key": key, "prefix": key[:12], "scopes": record["scopes"], "expires_at": record["expires_at"]}


@router.delete("/users/{username}/api-keys/{prefix}", status_code=204, dependencies=ADMIN, responses=FOUND)
def revoke_key(username: str, prefix: str, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """Revoke a key (admin or self); it stops working at once."""
    _self_or_admin(principal, username)
    container.users.revoke_key(username, prefix)
    _audit(container, principal, "key.revoke", {"user": username, "prefix": prefix})
    return Response(status_code=204)


@router.get("/groups", dependencies=ADMIN, response_model=GroupList, responses=WITH_INPUT)
def list_groups(
    principal: CurrentPrincipal,
    container: ContainerDep,
    cursor: Cursor = None,
    limit: PageLimit = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Groups by name with their members, a page at a time (admin)."""
    require_admin(principal)
    groups, after = container.users.list_groups(cursor, limit)
    return {"groups": groups, "next_cursor": after}
