"""The exit status of `sillok` for each class of outcome: one table, shown in `sillok --help`.

Sillok errors map to a status by their class (`core.errors`; a subclass takes its nearest
mapped base's status), so the CLI and the API classify failures the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import errors

OK = 0
INTERNAL = 1
USAGE = 2
NOT_FOUND = 3
DENIED = 4
INVALID = 5
UNAVAILABLE = 6
PARTIAL_FAILURE = 7
CONFIGURATION = 8
INTERRUPTED = 130


@dataclass(frozen=True)
class ExitStatus:
    """One row of the table: a status, what it means, and the error classes that end with it."""

    status: int
    meaning: str
    classes: tuple[type[errors.SillokError], ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        """The JSON error codes (`{"error": {"code"}}`) of this status's own classes."""
        return tuple(c.code for c in self.classes)


TABLE: tuple[ExitStatus, ...] = (
    ExitStatus(OK, "success"),
    ExitStatus(
        INTERNAL, "unexpected internal error (a bug; the traceback is printed)", (errors.SillokError,)
    ),
    ExitStatus(USAGE, "usage error: unknown command or option, bad option value"),
    ExitStatus(NOT_FOUND, "not found: no such user, key or document (or not readable)", (errors.NotFound,)),
    ExitStatus(
        DENIED,
        "not allowed: missing or invalid credentials, forbidden action",
        (errors.Unauthenticated, errors.Forbidden, errors.CsrfFailed),
    ),
    ExitStatus(
        INVALID,
        "invalid input: bad file, value or request, or one that conflicts with the current state",
        (
            errors.InvalidInput,
            errors.Conflict,
            errors.PayloadTooLarge,
            errors.ContextTooLong,
            errors.DocumentError,
        ),
    ),
    ExitStatus(
        UNAVAILABLE,
        "a dependency did not answer or is overloaded; retrying may help",
        (errors.DependencyUnavailable, errors.Overloaded),
    ),
    ExitStatus(PARTIAL_FAILURE, "some files failed (`ingest`, `sync`; see --allow-failures)"),
    ExitStatus(CONFIGURATION, "unsafe or inconsistent configuration", (errors.ConfigurationError,)),
    ExitStatus(INTERRUPTED, "interrupted (Ctrl-C)"),
)

_BY_CLASS = {cls: row.status for row in TABLE for cls in row.classes}


# For an error class defined outside `core.errors` with no mapped base (the API's own request
# timeout and rate limit, say): its HTTP status decides.
_BY_HTTP_STATUS = {
    401: DENIED,
    403: DENIED,
    404: NOT_FOUND,
    408: UNAVAILABLE,
    429: UNAVAILABLE,
    503: UNAVAILABLE,
}


def exit_status(exc: errors.SillokError) -> int:
    """The exit status of a Sillok error: that of its nearest base class in the table, else
    that of its HTTP status (4xx: invalid input), else the internal error's."""
    for cls in type(exc).__mro__:
        if cls is not errors.SillokError and cls in _BY_CLASS:
            return _BY_CLASS[cls]
    if exc.status in _BY_HTTP_STATUS:
        return _BY_HTTP_STATUS[exc.status]
    return INVALID if 400 <= exc.status < 500 else INTERNAL


def help_epilog() -> str:
    """The table as the epilog of `sillok --help` (Rich markup, one line per status)."""
    lines = [f"  [bold]{row.status:>3}[/]  {row.meaning}" for row in TABLE]
    return (
        "[bold]Exit status[/]\n"
        + "\n".join(lines)
        + "\n\nWith --json, an error is one JSON object on stdout: "
        + '{"error": {"code": ..., "message": ...}}, with the API\'s codes.'
    )
