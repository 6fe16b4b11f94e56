"""Terminal output shared by the commands: progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True)
_json_output = False


def set_json_output(enabled: bool) -> None:
    """Say whether this command line prints JSON (`--json`): progress bars are then off."""
    global _json_output  # one switch per process: the output mode of its command line
    _json_output = enabled


def progress(*extra: ProgressColumn) -> Progress:
    """The progress bar of long commands, with `extra` columns before the ETA.

    It draws on stderr, so stdout stays machine-readable, only on a terminal (Rich's own
    rule) and never under `--json`.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=_json_output,
    )


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON object on the last line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def emit_error(code: str, message: str) -> None:
    """A failure under `--json`: `{"error": {"code", "message"}}` on stdout, as the API answers."""
    emit_json({"error": {"code": code, "message": message}})
