"""What each route needs of a scoped API key, declared on the route and enforced in one place.

A route declares its scope with `Scope("search")` in its `dependencies=` (or its router's); the
`authenticate` dependency calls `enforce` with the route the request reached. A caller that is
not a scoped key (a browser session, an unscoped key, an identity-provider token) passes
untouched: scopes only ever take rights away. A scoped key passes only routes that declare a
scope it holds; a route that takes a principal and declares none is closed to scoped keys
(deny by default). `ANY_KEY` opens a route to every key whatever its scopes (who am I).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from core.acl import Principal
from core.errors import Forbidden
from core.users import SCOPES

ANY_KEY = "*"


class InsufficientScope(Forbidden):
    """A scoped API key used on a route outside its scopes."""

    code = "insufficient_scope"


class ScopeDeclaration:
    """The dependency that declares the scope a route needs (checked by `enforce`).

    It does nothing when called: the check runs in `authenticate`, which every authenticated
    route passes, so a route cannot forget it.
    """

    def __init__(self, name: str) -> None:
        if name not in SCOPES and name != ANY_KEY:
            raise ValueError(f"unknown scope {name!r}")
        self.name = name

    async def __call__(self) -> None:
        """Nothing to do at request time; the declaration is what counts."""

    def __repr__(self) -> str:
        return f"Scope({self.name!r})"


def Scope(name: str) -> Any:
    """`dependencies=[Scope("search")]`: the route needs that scope of a scoped key."""
    return Depends(ScopeDeclaration(name))


def _dependants(root: Dependant) -> Iterator[Dependant]:
    yield root
    for child in root.dependencies:
        yield from _dependants(child)


def declared_scope(route: object) -> str | None:
    """The scope a route declares, or None when it declares none (or is not an API route)."""
    if not isinstance(route, APIRoute):
        return None
    for dependant in _dependants(route.dependant):
        if isinstance(dependant.call, ScopeDeclaration):
            return dependant.call.name
    return None


def enforce(principal: Principal, route: object) -> None:
    """Refuse (403 `insufficient_scope`) a scoped key on a route outside its scopes."""
    if principal.scopes is None:
        return
    needed = declared_scope(route)
    if needed == ANY_KEY:
        return
    if needed is None:
        raise InsufficientScope("API keys with scopes cannot use this route; use a key without scopes")
    if needed not in principal.scopes:
        raise InsufficientScope(f"this API key lacks the {needed!r} scope this route needs")
