"""Exit statuses: every Sillok error class has one, `sillok --help` lists them, and the one
handler returns them, with one JSON error object on stdout under `--json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

import pytest
import typer

import serving.api.app  # noqa: F401  (defines the API's own error classes, counted below)
from core import errors
from serving.cli import exit_codes
from serving.cli.exit_codes import TABLE, exit_status
from serving.cli.main import run, wants_json

pytestmark = pytest.mark.unit


def _subclasses(cls: type[errors.SillokError]) -> Iterator[type[errors.SillokError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


EVERY_ERROR = sorted(set(_subclasses(errors.SillokError)), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_every_error_class_has_its_own_status_not_the_internal_one(cls: type[errors.SillokError]) -> None:
    error = cls.__new__(cls)  # its class decides, whatever its constructor takes
    assert exit_status(error) not in (exit_codes.OK, exit_codes.INTERNAL)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.SillokError("bug"), 1),
        (errors.NotFound("no such user"), 3),
        (errors.Unauthenticated("no key"), 4),
        (errors.Forbidden("not yours"), 4),
        (errors.CsrfFailed("no token"), 4),
        (errors.InvalidInput("bad date"), 5),
        (errors.Conflict("taken"), 5),
        (errors.ContextTooLong("too long"), 5),
        (errors.EmptyDocument("empty"), 5),
        (errors.FormatMismatch("zip named .pdf"), 5),
        (errors.DependencyUnavailable("database down"), 6),
        (errors.Overloaded("busy", retry_after=3), 6),
        (errors.ConfigurationError("unsafe"), 8),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_statuses_by_class(error: errors.SillokError, status: int) -> None:
    assert exit_status(error) == status


def test_a_new_subclass_takes_its_base_class_status() -> None:
    class ScopeMissing(errors.Forbidden):
        code = "scope_missing"

    assert exit_status(ScopeMissing("search only")) == exit_codes.DENIED


def test_statuses_are_distinct_and_each_class_appears_once() -> None:
    statuses = [row.status for row in TABLE]
    classes = [cls for row in TABLE for cls in row.classes]
    assert len(set(statuses)) == len(statuses)
    assert len(set(classes)) == len(classes)


def test_help_lists_every_status(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Exit status" in out
    for row in TABLE:
        assert f"{row.status:>3}  {row.meaning}" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["search", "q", "--as", "bob", "--json"], True),
        (["search", "q", "--as", "bob"], False),
        (["ask", "--as", "bob", "--", "--json"], False),  # the question itself
    ],
)
def test_json_mode_is_the_flag_before_any_double_dash(args: list[str], expected: bool) -> None:
    assert wants_json(args) is expected


def _app() -> typer.Typer:
    """A command line whose one command raises what it is told to, as Sillok commands do."""
    app = typer.Typer()

    @app.command()
    def fail(
        what: Annotated[str, typer.Argument()],
        as_json: Annotated[bool, typer.Option("--json")] = False,
        top_k: Annotated[int, typer.Option("--top-k", min=1)] = 1,
    ) -> None:
        raisers = {
            "not_found": errors.NotFound("no user named 'mallory'"),
            "invalid_input": errors.InvalidInput("not an ISO 8601 date"),
            "dependency_unavailable": errors.DependencyUnavailable("the database did not answer"),
            "bug": RuntimeError("surprise"),
        }
        if what == "partial":
            raise typer.Exit(exit_codes.PARTIAL_FAILURE)
        if what in raisers:
            raise raisers[what]
        if as_json:
            typer.echo(json.dumps({"ok": True}))

    @app.command()
    def other() -> None:
        """A second command, so that `fail` is a subcommand."""

    return app


@pytest.mark.parametrize(
    ("code", "status"), [("not_found", 3), ("invalid_input", 5), ("dependency_unavailable", 6)]
)
def test_sillok_errors_end_with_their_status_and_one_line(
    capsys: pytest.CaptureFixture[str], code: str, status: int
) -> None:
    assert run(["fail", code], _app()) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [captured.err.strip()]
    assert f"({code})" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("code", "status"), [("not_found", 3), ("invalid_input", 5), ("dependency_unavailable", 6)]
)
def test_json_errors_are_one_object_on_stdout(
    capsys: pytest.CaptureFixture[str], code: str, status: int
) -> None:
    assert run(["fail", code, "--json"], _app()) == status
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert error["code"] == code and set(error) == {"code", "message"} and error["message"]


def test_usage_errors_are_status_2_and_json_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fail", "x", "--top-k", "0"], _app()) == exit_codes.USAGE
    assert "--top-k" in capsys.readouterr().err
    assert run(["fail", "x", "--top-k", "0", "--json"], _app()) == exit_codes.USAGE
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "invalid_input" and "--top-k" in error["message"]
    assert run(["nosuch", "--json"], _app()) == exit_codes.USAGE
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_input"


def test_unexpected_errors_are_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError):  # without --json Typer prints the traceback; Python exits 1
        run(["fail", "bug"], _app())
    assert run(["fail", "bug", "--json"], _app()) == exit_codes.INTERNAL
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "error": {"code": "internal_error", "message": "RuntimeError: surprise"}
    }
    assert "Traceback" in captured.err


def test_success_and_explicit_statuses_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fail", "fine", "--json"], _app()) == exit_codes.OK
    assert json.loads(capsys.readouterr().out) == {"ok": True}
    assert run(["fail", "partial"], _app()) == exit_codes.PARTIAL_FAILURE


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"sillok {version('sillok')}\n"
