"""`sillok audit`: export the audit log, and list what a user was shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from core.errors import InvalidInput
from serving.cli.bootstrap import build_cli

audit_app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"not an ISO 8601 date or time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("export")
def export(
    user: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. chat, search, user.groups.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO 8601 time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this ISO 8601 time (exclusive).")] = None,
) -> None:
    """Events as JSON lines, oldest first."""
    for event in build_cli().audit.events(actor=user, action=action, since=_when(since), until=_when(until)):
        typer.echo(json.dumps(event, ensure_ascii=False))


@audit_app.command("seen")
def seen(
    user: Annotated[str, typer.Argument(help="The user.")],
    since: Annotated[str, typer.Option(help="From this ISO 8601 time (inclusive).")],
    until: Annotated[str, typer.Option(help="Until this ISO 8601 time (exclusive).")],
) -> None:
    """The documents the user was shown in that period, one JSON object per line."""
    start, end = _when(since), _when(until)
    if start is None or end is None:
        raise InvalidInput("--since and --until are required")
    container = build_cli()
    for row in container.audit.seen(container.users.principal(user).user_id, start, end):
        typer.echo(json.dumps(row))
