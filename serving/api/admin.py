"""Admin routes: users, groups and API keys. Changes apply to the very next request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from core.acl import Principal
from core.errors import Forbidden
from serving.api.bootstrap import ApiServices
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.schemas import GroupsBody, NewUser

router = APIRouter(prefix="/api/v1", tags=["admin"])


def require_admin(principal: Principal) -> None:
    """Only admins may pass."""
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")


def _self_or_admin(principal: Principal, username: str) -> None:
    if principal.username != username and not principal.is_admin:
        raise Forbidden("only the user themself or an admin can do this")


def _audit(container: ApiServices, principal: Principal, action: str, detail: dict[str, Any]) -> None:
    container.audit.record(principal, action, "rest", detail)


@router.get("/me", tags=["users"])
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the caller is."""
    return {"username": principal.username, "groups": sorted(principal.groups), "admin": principal.is_admin}


@router.get("/users")
def list_users(principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """Every user (admin)."""
    require_admin(principal)
    return {"users": container.users.list_users()}


@router.post("/users", status_code=201)
def create_user(body: NewUser, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """Create a user, or update one (idempotent; admin)."""
    require_admin(principal)
    container.users.add_user(body.username, body.email, body.groups, body.admin)
    if body.password is not None:
        container.passwords.set_password(body.username, body.password)
    user = container.users.describe(body.username)
    _audit(container, principal, "user.create", {"user": user})
    return user


@router.get("/users/{username}")
def get_user(username: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """A user's record (admin or self)."""
    _self_or_admin(principal, username)
    return container.users.describe(username)


@router.put("/users/{username}/groups")
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


@router.delete("/users/{username}", status_code=204)
def delete_user(username: str, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """Delete a user (admin); their keys stop working at once."""
    require_admin(principal)
    before = container.users.describe(username)
    container.users.remove_user(username)
    _audit(container, principal, "user.delete", {"before": before})
    return Response(status_code=204)


@router.get("/users/{username}/api-keys")
def list_keys(username: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """The user's keys, without the secrets (admin or self)."""
    _self_or_admin(principal, username)
    return {"keys": container.users.keys(username)}


@router.post("/users/{username}/api-keys", status_code=201)
def issue_key(username: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, str]:
    """A new API key, shown this once (admin or self)."""
    _self_or_admin(principal, username)
    key = container.users.issue_key(username)
    _audit(container, principal, "key.issue", {"user": username, "prefix": key[:12]})
    return {"key": key, "prefix": key[:12]}


@router.delete("/users/{username}/api-keys/{prefix}", status_code=204)
def revoke_key(username: str, prefix: str, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """Revoke a key (admin or self); it stops working at once."""
    _self_or_admin(principal, username)
    container.users.revoke_key(username, prefix)
    _audit(container, principal, "key.revoke", {"user": username, "prefix": prefix})
    return Response(status_code=204)


@router.get("/groups")
def list_groups(principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """Every group with its members (admin)."""
    require_admin(principal)
    return {"groups": container.users.list_groups()}
