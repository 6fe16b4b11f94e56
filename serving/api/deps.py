"""Request dependencies: the container and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.acl import Principal
from core.errors import Unauthenticated
from serving.bootstrap import Container


def get_container(request: Request) -> Container:
    """The process's container."""
    container: Container = request.app.state.container
    return container


def authenticate(request: Request, container: Annotated[Container, Depends(get_container)]) -> Principal:
    """The principal behind `Authorization: Bearer <API key>`; anything else is 401."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("missing bearer token")
    principal = container.users.authenticate_key(credential.strip())
    if principal is None:
        raise Unauthenticated("invalid or revoked credential")
    return principal


ContainerDep = Annotated[Container, Depends(get_container)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
