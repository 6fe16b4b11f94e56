"""`sillok users`: users, groups and API keys from the command line (audited as channel cli)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from core.errors import InvalidInput
from core.users import SCOPES
from serving.cli.bootstrap import CliServices, build_cli

users_app = typer.Typer(help="Manage users, groups and API keys.", no_args_is_help=True)


def _audit(container: CliServices, action: str, detail: dict[str, Any]) -> None:
    container.audit.record(None, action, "cli", detail)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Username.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="Group membership.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin role.")] = False,
    service: Annotated[
        bool, typer.Option("--service", help="A service account: never signs in, acts only by API key.")
    ] = False,
) -> None:
    """Create a user (idempotent)."""
    container = build_cli()
    principal = container.users.add_user(name, email, group or (), admin, service=service)
    _audit(container, "user.create", {"user": container.users.describe(name)})
    groups = ",".join(sorted(principal.groups)) or "-"
    line = f"{principal.username}\tgroups={groups}\tadmin={principal.is_admin}"
    typer.echo(line + ("\tservice=True" if container.users.is_service(name) else ""))


def _expiry(value: str | None) -> datetime | None:
    """`--expires`: an ISO 8601 date or time (a date means its midnight UTC; no zone means UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--expires {value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@users_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="Username.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help=f"Limit the key to this scope (repeatable): {', '.join(SCOPES)}."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="ISO 8601 date or time after which the key is refused.")
    ] = None,
) -> None:
    """Print a new API key for that user (the last line of stdout is the key).

    Without --scope the key has every right of its owner; never more (only an admin's key may
    have the admin scope).
    """
    container = build_cli()
    key = container.users.issue_key(name, scope or None, _expiry(expires))
    record = next(k for k in container.users.keys(name) if k["prefix"] == key[:12])
    detail = {
        "user": name,
        "prefix": key[:12],
        "scopes": record["scopes"],
        "expires_at": record["expires_at"],
    }
    _audit(container, "key.issue", detail)
    typer.echo(key)


@users_app.command("list")
def list_users() -> None:
    """Every user with groups and role, one JSON object per line."""
    directory, cursor = build_cli().users, None
    while True:
        page, cursor = directory.list_users(cursor)
        for user in page:
            typer.echo(json.dumps(user, ensure_ascii=False))
        if cursor is None:
            return


@users_app.command("groups")
def groups(
    name: Annotated[str, typer.Argument(help="Username.")],
    group: Annotated[list[str] | None, typer.Option("--group", help="The new set of groups.")] = None,
) -> None:
    """Replace a user's groups (no --group: none); applies to the next request."""
    container = build_cli()
    before = container.users.describe(name)["groups"]
    principal = container.users.set_groups(name, group or ())
    _audit(container, "user.groups", {"user": name, "before": before, "after": sorted(principal.groups)})
    typer.echo(f"{name}\tgroups={','.join(sorted(principal.groups)) or '-'}")


@users_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Username.")]) -> None:
    """Delete a user; their keys stop working at once."""
    container = build_cli()
    before = container.users.describe(name)
    container.users.remove_user(name)
    _audit(container, "user.delete", {"before": before})
    typer.echo(f"removed\t{name}")


@users_app.command("keys")
def keys(name: Annotated[str, typer.Argument(help="Username.")]) -> None:
    """The user's API keys (prefix, created, last used, revoked, scopes: null for all of the
    owner's rights, expires_at), one JSON object per line."""
    for key in build_cli().users.keys(name):
        typer.echo(json.dumps(key))


@users_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Username.")],
    prefix: Annotated[str, typer.Argument(help="The key's prefix (see `sillok users keys`).")],
) -> None:
    """Revoke one API key; it stops working at once."""
    container = build_cli()
    container.users.revoke_key(name, prefix)
    _audit(container, "key.revoke", {"user": name, "prefix": prefix})
    typer.echo(f"revoked\t{prefix}")


@users_app.command("passwd")
def passwd(name: Annotated[str, typer.Argument(help="Username.")]) -> None:
    """Set the user's web sign-in password (asked for on a terminal, else read from stdin)."""
    if sys.stdin.isatty():
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    container = build_cli()
    if container.users.is_service(name):
        raise InvalidInput(f"{name} is a service account: it never signs in, so it has no password")
    container.passwords.set_password(name, password)
    _audit(container, "user.password", {"user": name})
    typer.echo(f"password set\t{name}")
