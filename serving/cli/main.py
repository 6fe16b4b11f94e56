"""`sillok`: serve, ingest, ask, search, users and eval (see the README for every command)."""

from __future__ import annotations

# ruff: noqa: E402 (the other imports must come after this call)
from core.offline import disable_phone_home

disable_phone_home()  # before any library is imported: some read their telemetry switches only then

import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from typer import rich_utils

from core.acl import Acl
from core.errors import InvalidInput, SillokError
from serving import asking
from serving.cli.audit import audit_app
from serving.cli.bench import bench_app
from serving.cli.bench_documents import bench_documents
from serving.cli.bench_search import bench_search
from serving.cli.bench_serve import bench_serve
from serving.cli.bootstrap import build_cli
from serving.cli.bots import hosted_bots, run_bots
from serving.cli.console import emit_error, emit_json, err, set_json_output
from serving.cli.eval_answers import eval_answers
from serving.cli.eval_verifier import eval_verifier
from serving.cli.evaluate import eval_app
from serving.cli.exit_codes import (
    INTERNAL,
    INTERRUPTED,
    INVALID,
    OK,
    PARTIAL_FAILURE,
    USAGE,
    exit_status,
    help_epilog,
)
from serving.cli.ingest import ingest_paths, sync_connectors
from serving.cli.reindex import reindex
from serving.cli.users import users_app
from serving.render import search_results

app = typer.Typer(
    help="Sillok: private answers over company documents.", epilog=help_epilog(), no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
eval_app.command("answers")(eval_answers)
eval_app.command("verifier")(eval_verifier)
bench_app.command("serve")(bench_serve)
bench_app.command("documents")(bench_documents)
bench_app.command("search")(bench_search)
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.command("reindex")(reindex)
_ALLOW_FAILURES_HELP = "Exit 0 even when some files failed (otherwise exit status 7)."


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sillok {metadata.version('sillok')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Sillok: private answers over company documents."""


def _exit_if_failed(failed: int, allow_failures: bool) -> None:
    """End with the partial-failure status when files failed, unless the caller accepts that."""
    if failed and not allow_failures:
        err.print(f"[red]{failed} file(s) failed[/]; exit status {PARTIAL_FAILURE} (--allow-failures: 0)")
        raise typer.Exit(PARTIAL_FAILURE)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the API on the configured stores (and, on the embedded default, the worker too)."""
    import uvicorn

    from serving.api.app import create_app
    from serving.api.bootstrap import build_api
    from serving.api.http_server import uvicorn_options
    from serving.worker.bootstrap import build_worker

    api = build_api()
    bot_routers, stop_bots = hosted_bots(api)
    for partial in (api.settings.data_dir / "incoming").glob("*.part"):
        partial.unlink()  # uploads cut off by an earlier stop were never accepted
    _ = api.embedder  # load the model before accepting requests
    hosted = build_worker(shared=api) if api.runs_worker else None  # this process owns the index
    embedded = None
    if hosted is not None:
        hosted.start()
        embedded = hosted.embedded_worker()
        embedded.start()
        api.queue.reconcile()
    elif api.settings.qdrant.url:
        _ = api.index
    err.print(f"Sillok listening on http://{host}:{port} (data in {api.settings.data_dir})")
    try:
        uvicorn.run(
            create_app(api, bot_routers), host=host, port=port, **uvicorn_options(api.settings.server)
        )
    finally:
        stop_bots()
        if embedded is not None:
            embedded.stop()
        if hosted is not None:
            hosted.close()
        api.close()


@app.command()
def bots(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8010,
) -> None:
    """The Slack and Teams bots in a process of their own (needs a Qdrant server); on one
    machine `sillok serve` answers them itself."""
    run_bots(host, port)


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues: ingest (heavy), light.")
    ] = "ingest,light",
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="Tasks run at once (default: settings).")
    ] = None,
    beat: Annotated[bool, typer.Option(help="Also run the periodic schedule (reconciler, syncs).")] = True,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of the metrics port (0.0.0.0 in a container).")
    ] = "127.0.0.1",
) -> None:
    """A Celery worker on the configured broker (production: many of these, on Redis)."""
    from prometheus_client import start_http_server

    from ingest.tasks import QUEUES, install
    from serving.worker.bootstrap import build_worker

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    if not chosen or set(chosen) - set(QUEUES):
        raise InvalidInput(f"--queues takes a comma-separated subset of {', '.join(QUEUES)}")
    root = build_worker()
    settings = root.settings
    if concurrency:
        settings.ingest.worker_concurrency = concurrency
    if settings.ingest.broker_url is None:
        raise InvalidInput(
            "no broker configured (SILLOK_INGEST__BROKER_URL); `sillok serve` runs the worker itself"
        )
    if metrics_port:
        from serving.metrics import register_queue_metrics

        register_queue_metrics(settings.ingest.broker_url, QUEUES)
        start_http_server(metrics_port, addr=metrics_host)
    root.start()  # the readers, the model and the index once, up front
    install(root.task_services())
    root.queue.reconcile()
    root.celery.Worker(
        queues=chosen,
        pool="threads",
        concurrency=settings.ingest.worker_concurrency,
        beat=beat,
        schedule_filename=str(settings.data_dir / "beat-schedule"),
        loglevel=settings.log_level,
        without_mingle=True,
        without_gossip=True,
    ).start()
    root.close()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursively).")],
    group: Annotated[list[str] | None, typer.Option("--group", help="Group that may read them.")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help="User who may read them.")] = None,
    public: Annotated[bool, typer.Option("--public", help="Everyone may read them.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Block until each file is indexed or failed.")] = False,
    allow_failures: Annotated[bool, typer.Option("--allow-failures", help=_ALLOW_FAILURES_HELP)] = False,
) -> None:
    """Register files with an ACL and queue them; one line per file with its status.

    On the embedded default this process runs the worker itself unless a server owns the
    index, so the files are final when it exits; with Redis workers `--wait` follows them.
    Exits with status 7 when any file failed, unless --allow-failures is given (without
    --wait, when Redis workers or a running server take the files: any that could not be queued).
    """
    if not (user or group or public):
        err.print("[yellow]No --user, --group or --public given: nobody can read these documents.[/]")
    container = build_cli()
    try:
        acl = Acl.of(container.users.ids_for(user or ()).values(), group or (), public)
        failed = ingest_paths(container, paths, acl, wait)
    finally:
        container.close()
    _exit_if_failed(failed, allow_failures)


@app.command()
def sync(
    wait: Annotated[bool, typer.Option("--wait", help="Block until each new version is final.")] = False,
    allow_failures: Annotated[bool, typer.Option("--allow-failures", help=_ALLOW_FAILURES_HELP)] = False,
) -> None:
    """Synchronise the configured folders and intranet sites now (they also sync on a schedule).

    Exits with status 7 when any file failed, unless --allow-failures is given.
    """
    container = build_cli()
    try:
        failed = sync_connectors(container, wait)
    finally:
        container.close()
    _exit_if_failed(failed, allow_failures)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    as_user: Annotated[str, typer.Option("--as", help="Answer as this user.")],
    conversation: Annotated[
        str | None, typer.Option(help="Continue this conversation (its id from an earlier --json answer).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One checked answer, as that user."""
    container = build_cli()
    principal = container.users.principal(as_user)
    reply = asking.final(container.asking.ask(principal, question, conversation, "cli"))
    answer = reply.answer
    if as_json:
        emit_json(reply.as_dict())
        return
    typer.echo(answer.text)
    for c in answer.citations:
        flag = " (contains instructions to AI models)" if c.suspicious else ""
        typer.echo(f"[{c.n}] {c.title}" + (f", p. {c.page}" if c.page else "") + flag)
    if not answer.refused:
        supported = sum(s.supported for s in answer.sentences)
        typer.echo(f"Checked: {supported} of {len(answer.sentences)} sentences supported by their sources.")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    as_user: Annotated[str, typer.Option("--as", help="Search as this user.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ranked passages readable by that user."""
    container = build_cli()
    principal = container.users.principal(as_user)
    results = search_results(container.asking.search(principal, query, top_k, "cli"))
    if as_json:
        emit_json(results)
        return
    for r in results["results"]:
        page = f" p. {r['page']}" if r["page"] else ""
        typer.echo(f"{r['score']:.3f}  {r['title']}{page}\n       {r['text'][:160]!r}")


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for `--json` (a flag without a value, before any `--`)."""
    options = list(args)
    return "--json" in (options[: options.index("--")] if "--" in options else options)


def _fail(code: str, message: str, status: int, as_json: bool) -> int:
    if as_json:
        emit_error(code, message)
    else:
        err.print(f"[red]error[/] ({code}): {message}", highlight=False)
    return status


def run(args: Sequence[str] | None = None, cli: typer.Typer = app) -> int:
    """Run one command line and return its exit status (see `sillok --help`).

    The one place where failures become exit statuses: Sillok errors by class, usage errors
    2, anything unexpected 1 (with its traceback). Under `--json` each failure is also one
    JSON object on stdout, `{"error": {"code", "message"}}` with the API's codes.
    """
    argv = list(sys.argv[1:] if args is None else args)
    as_json = wants_json(argv)
    set_json_output(as_json)
    try:
        result = cli(args=argv, prog_name="sillok", standalone_mode=False)
    except SillokError as exc:
        return _fail(exc.code, exc.message, exit_status(exc), as_json)
    except typer.TyperException as exc:  # Click's errors (as vendored by Typer)
        status = USAGE if exc.exit_code == USAGE else INVALID
        if not as_json or exc.__class__.__name__ == "NoArgsIsHelpError":
            # Typer's own rendering (silent for a bare group, whose help is already shown)
            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
            return status
        return _fail("invalid_input", exc.format_message(), status, as_json)
    except typer.Abort:
        return _fail("interrupted", "aborted", INTERRUPTED, as_json)
    except Exception as exc:
        if not as_json:
            raise  # Typer shows the traceback; Python exits with status 1
        traceback.print_exc()
        return _fail("internal_error", f"{type(exc).__name__}: {exc}", INTERNAL, as_json)
    finally:
        set_json_output(False)
    return result if isinstance(result, int) and not isinstance(result, bool) else OK


def main() -> None:
    """Console-script entry point: exits with the status of `run`."""
    raise SystemExit(run())


__all__ = ["app", "main", "run"]
