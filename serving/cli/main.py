"""`sillok`: serve, ingest, ask, search, users and eval (see the README for every command)."""

from __future__ import annotations

# ruff: noqa: E402 (the other imports must come after this call)
from core.offline import disable_phone_home

disable_phone_home()  # before any library is imported: some read their telemetry switches only then

from pathlib import Path
from typing import Annotated

import typer

from core.acl import Acl
from core.errors import InvalidInput, SillokError
from serving import asking
from serving.cli.audit import audit_app
from serving.cli.bench import bench_app
from serving.cli.bench_documents import bench_documents
from serving.cli.bench_serve import bench_serve
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err
from serving.cli.eval_answers import eval_answers
from serving.cli.eval_verifier import eval_verifier
from serving.cli.evaluate import eval_app
from serving.cli.ingest import ingest_paths, sync_connectors
from serving.cli.reindex import reindex
from serving.cli.users import users_app
from serving.render import search_results

app = typer.Typer(help="Sillok: private answers over company documents.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
eval_app.command("answers")(eval_answers)
eval_app.command("verifier")(eval_verifier)
bench_app.command("serve")(bench_serve)
bench_app.command("documents")(bench_documents)
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.command("reindex")(reindex)


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
        uvicorn.run(create_app(api), host=host, port=port, **uvicorn_options(api.settings.server))
    finally:
        if embedded is not None:
            embedded.stop()
        if hosted is not None:
            hosted.close()
        api.close()


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
        start_http_server(metrics_port, addr="127.0.0.1")
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
) -> None:
    """Register files with an ACL and queue them; one line per file with its status.

    On the embedded default this process runs the worker itself unless a server owns the
    index, so the files are final when it exits; with Redis workers `--wait` follows them.
    """
    if not (user or group or public):
        err.print("[yellow]No --user, --group or --public given: nobody can read these documents.[/]")
    container = build_cli()
    try:
        acl = Acl.of(container.users.ids_for(user or ()).values(), group or (), public)
        ingest_paths(container, paths, acl, wait)
    finally:
        container.close()


@app.command()
def sync(
    wait: Annotated[bool, typer.Option("--wait", help="Block until each new version is final.")] = False,
) -> None:
    """Synchronise the configured folders and intranet sites now (they also sync on a schedule)."""
    container = build_cli()
    try:
        sync_connectors(container, wait)
    finally:
        container.close()


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


def main() -> None:
    """Console-script entry point: Sillok errors become one clear line and exit status 1."""
    try:
        app()
    except SillokError as exc:
        err.print(f"[red]error[/] ({exc.code}): {exc.message}")
        raise SystemExit(1) from None


__all__ = ["app", "main"]
