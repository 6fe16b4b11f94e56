"""`sillok ingest`: register files, queue them, and follow them to a final status."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.acl import Acl
from core.errors import DependencyUnavailable, InvalidInput
from core.types import DocumentStatus
from ingest.pipeline import Outcome
from serving.bootstrap import Container
from serving.cli.console import err

FINAL = {DocumentStatus.INDEXED, DocumentStatus.FAILED, DocumentStatus.SUPERSEDED}
_POLL_S = 0.5


def files_under(paths: Sequence[Path]) -> Iterator[Path]:
    """Every regular, non-hidden file of the given files and folders (recursively)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or folder: {path}")


@contextmanager
def worker_if_needed(container: Container) -> Iterator[bool]:
    """Run a worker in this process when nothing else will process the queue.

    Yields False when the queued work will be done elsewhere (Redis workers, or a running
    `sillok serve` that owns the embedded index and picks the files up on its next reconcile).
    """
    if not container.runs_worker:
        yield False
        return
    try:
        _ = container.index
    except DependencyUnavailable:
        err.print("[dim]The Sillok server owns the index; it will process these files.[/]")
        yield False
        return
    worker = container.embedded_worker()
    worker.start()
    try:
        yield True
    finally:
        worker.stop()


def follow(container: Container, targets: list[tuple[Path, str, str]]) -> list[Outcome]:
    """Wait until every (path, document, version) is final, with a progress bar and an ETA."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
        TimeRemainingColumn(),
    )
    outcomes: dict[int, Outcome] = {}
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("Indexing", total=len(targets), chunks=0)
        while len(outcomes) < len(targets):
            chunks = 0
            for i, (_, document_id, version) in enumerate(targets):
                if i in outcomes:
                    chunks += outcomes[i].chunks
                    continue
                ver = container.documents.version(document_id, version)
                status = DocumentStatus(ver.status)
                chunks += ver.chunks_done
                if status in FINAL:
                    outcomes[i] = Outcome(
                        document_id, version, status, ver.chunk_count, ver.error_code, ver.error
                    )
            bar.update(task, completed=len(outcomes), chunks=chunks)
            if len(outcomes) < len(targets):
                time.sleep(_POLL_S)
    return [outcomes[i] for i in range(len(targets))]


def ingest_paths(container: Container, paths: Sequence[Path], acl: Acl, wait: bool) -> int:
    """Register and queue the files; print one line per file; returns how many failed."""
    files = list(files_under(paths))
    targets: list[tuple[Path, str, str]] = []
    for path in files:
        reg = container.intake.submit(path, source=path.resolve().as_uri(), acl=acl)
        if reg.acl_changed:
            container.queue.apply_acl(reg.document_id)
        targets.append((path, reg.document_id, reg.version))
    with worker_if_needed(container) as local:
        for _, document_id, version in targets:
            container.queue.ingest(document_id, version)
        if not (wait or local):
            for path, document_id, _ in targets:
                typer.echo(f"queued\t{path}\t{document_id}\t")
            return 0
        outcomes = follow(container, targets)
    failed = 0
    for (path, document_id, _), outcome in zip(targets, outcomes, strict=True):
        status = outcome.status.value
        detail = f"{outcome.chunks} chunks" if status == "indexed" else (outcome.error or "")
        failed += status == "failed"
        typer.echo(f"{status}\t{path}\t{document_id}\t{detail}")
    err.print(f"{len(files) - failed} indexed, {failed} failed")
    return failed
