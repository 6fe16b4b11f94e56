"""`sillok`: serve, ingest, ask, search, users and eval (see the README for every command)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from core.acl import Acl
from core.errors import InvalidInput, SillokError
from serving.bootstrap import Container, build
from serving.cli.bench import bench_app
from serving.cli.console import emit_json, err, progress
from serving.cli.evaluate import eval_app
from serving.render import search_results

app = typer.Typer(help="Sillok: private answers over company documents.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users and API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the API on the configured stores."""
    import uvicorn

    from serving.api.app import create_app

    container = build()
    _ = container.answers, container.index  # load models and open stores before accepting requests
    err.print(f"Sillok listening on http://{host}:{port} (data in {container.settings.data_dir})")
    try:
        uvicorn.run(create_app(container), host=host, port=port, log_level="warning")
    finally:
        container.close()


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or folder: {path}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursively).")],
    group: Annotated[list[str] | None, typer.Option("--group", help="Group that may read them.")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help="User who may read them.")] = None,
    public: Annotated[bool, typer.Option("--public", help="Everyone may read them.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Block until each file is indexed or failed.")] = False,
) -> None:
    """Register files with an ACL and index them, one line per file with its final status.

    Ingestion runs in this process for now, so every file is final when its line is printed.
    """
    acl = Acl.of(user or (), group or (), public)
    if not acl.tokens():
        err.print("[yellow]No --user, --group or --public given: nobody can read these documents.[/]")
    container = build()
    files = list(_files(paths))
    failed = 0
    with progress() as bar:
        task = bar.add_task("Indexing", total=len(files))
        for path in files:
            bar.update(task, description=f"Indexing {path.name}")
            reg = container.pipeline.submit(path, source=path.resolve().as_uri(), acl=acl)
            outcome = container.pipeline.process(reg.document_id, reg.version)
            status = outcome.status.value
            detail = f"{outcome.chunks} chunks" if status == "indexed" else (outcome.error or "")
            failed += status == "failed"
            typer.echo(f"{status}\t{path}\t{reg.document_id}\t{detail}")
            bar.advance(task)
    container.close()
    err.print(f"{len(files) - failed} indexed, {failed} failed")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    as_user: Annotated[str, typer.Option("--as", help="Answer as this user.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One grounded answer, as that user."""
    container = build()
    answer = container.answers.answer(container.users.principal(as_user), question)
    if as_json:
        emit_json(answer.as_dict())
        return
    typer.echo(answer.text)
    for c in answer.citations:
        typer.echo(f"[{c.n}] {c.title}" + (f", p. {c.page}" if c.page else ""))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    as_user: Annotated[str, typer.Option("--as", help="Search as this user.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ranked passages readable by that user."""
    container = build()
    results = search_results(container.retriever.search(container.users.principal(as_user), query, top_k))
    if as_json:
        emit_json(results)
        return
    for r in results["results"]:
        page = f" p. {r['page']}" if r["page"] else ""
        typer.echo(f"{r['score']:.3f}  {r['title']}{page}\n       {r['text'][:160]!r}")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Username.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="Group membership.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin role.")] = False,
) -> None:
    """Create a user (idempotent)."""
    principal = build().users.add_user(name, email, group or (), admin)
    groups = ",".join(sorted(principal.groups)) or "-"
    typer.echo(f"{principal.username}\tgroups={groups}\tadmin={principal.is_admin}")


@users_app.command("token")
def users_token(name: Annotated[str, typer.Argument(help="Username.")]) -> None:
    """Print a new API key for that user (the last line of stdout is the key)."""
    typer.echo(build().users.issue_key(name))


def main() -> None:
    """Console-script entry point: Sillok errors become one clear line and exit status 1."""
    try:
        app()
    except SillokError as exc:
        err.print(f"[red]error[/] ({exc.code}): {exc.message}")
        raise SystemExit(1) from None


__all__ = ["Container", "app", "main"]
