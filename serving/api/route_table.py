"""What the edge must know about each route before the route runs: whether it needs a
credential, whether it takes an upload, and which of its parameters are integers.

Read from the routes' own declarations (the `CurrentPrincipal` dependency, the parameter
types), so a new route is covered the moment it is added.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path
from starlette.types import Scope


@dataclass(frozen=True)
class RouteRules:
    """The edge's view of one route."""

    authenticated: bool
    upload: bool
    integer_path_params: tuple[str, ...] = ()
    integer_query_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    rules: RouteRules


def _dependants(root: Dependant) -> Iterator[Dependant]:
    yield root
    for child in root.dependencies:
        yield from _dependants(child)


def _is_integer(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return int in get_args(annotation)
    return False


def _rules(dependant: Dependant, guard: Callable[..., Any], upload: bool) -> RouteRules:
    everything = list(_dependants(dependant))
    return RouteRules(
        authenticated=any(d.call is guard for d in everything),
        upload=upload,
        integer_path_params=tuple(
            p.name for d in everything for p in d.path_params if _is_integer(p.field_info.annotation)
        ),
        integer_query_params=tuple(
            p.alias for d in everything for p in d.query_params if _is_integer(p.field_info.annotation)
        ),
    )


class RouteTable:
    """The API's routes, matched by method and path like the router does."""

    def __init__(self, app: FastAPI, guard: Callable[..., Any], uploads: Collection[tuple[str, str]]) -> None:
        self._entries: list[_Entry] = []
        for context in iter_route_contexts(app.routes):
            dependant = getattr(context, "dependant", None)
            path, methods = context.path, context.methods
            if not isinstance(dependant, Dependant) or path is None or not methods:
                continue  # static files, the schema: no credential, no parameters
            upload = any((m, path) in uploads for m in methods)
            pattern = compile_path(path)[0]
            self._entries.append(_Entry(pattern, frozenset(methods), _rules(dependant, guard, upload)))

    def lookup(self, scope: Scope) -> tuple[RouteRules, dict[str, str]] | None:
        """The rules of the route this request reaches and its raw path parameters, or None (no
        such route, or not with this method)."""
        path, method = scope.get("path", ""), scope.get("method", "")
        for entry in self._entries:
            if method in entry.methods and (match := entry.pattern.match(path)):
                return entry.rules, match.groupdict()
        return None

    def authenticated_routes(self) -> list[str]:
        """Patterns of the routes that need a credential (for tests and diagnostics)."""
        return [e.pattern.pattern for e in self._entries if e.rules.authenticated]
