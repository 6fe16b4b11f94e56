"""Terminal output shared by the commands: progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

err = Console(stderr=True)


def progress() -> Progress:
    """The progress bar of long commands (on stderr, so stdout stays machine-readable)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON object on the last line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
