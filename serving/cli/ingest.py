"""`sillok ingest`: register files, queue them, and follow them to a final status."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import TextColumn

from core.acl import Acl
from core.errors import DependencyUnavailable, InvalidInput
from core.settings import AclRule
from core.types import DocumentStatus
from ingest.connectors.folder import sync_folder
from ingest.connectors.report import Problem, SyncReport
from ingest.connectors.runs import QueueSink, sync_all
from ingest.pipeline import Outcome
from serving.cli.bootstrap import CliServices
from serving.cli.console import err, progress

FINAL = {DocumentStatus.INDEXED, DocumentStatus.FAILED, DocumentStatus.SUPERSEDED}
_POLL_S = 0.5


@contextmanager
def worker_if_needed(container: CliServices) -> Iterator[str]:
    """Say who processes the queue: "local" (a worker started here for the duration),
    "workers" (Redis workers) or "server" (a running `sillok serve` owns the embedded index and
    picks new versions up from the registry on its next reconcile).
    """
    if not container.runs_worker:
        yield "workers"
        return
    try:
        _ = container.index
    except DependencyUnavailable:
        err.print("[dim]The Sillok server owns the index; it will pick these files up.[/]")
        yield "server"
        return
    worker = container.worker.embedded_worker()
    worker.start()
    try:
        yield "local"
    finally:
        worker.stop()


def follow(container: CliServices, targets: list[tuple[Path, str, str]]) -> list[Outcome]:
    """Wait until every (path, document, version) is final, with a progress bar and an ETA."""
    outcomes: dict[int, Outcome] = {}
    with progress(TextColumn("{task.fields[chunks]} chunks")) as bar:
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


def _report(sink: QueueSink, problems: list[Problem], removed: list[str], final: list[Outcome] | None) -> int:
    """One line per file (its final status, or `queued`), per failure and per removal."""
    for source in removed:
        typer.echo(f"removed\t{source}\t\t")
    for problem in problems:
        typer.echo(f"failed\t{problem.item}\t\t{problem.reason}")
    failed = len(problems)
    for i, (path, reg) in enumerate(sink.taken):
        if final is None:
            typer.echo(f"queued\t{path}\t{reg.document_id}\t")
            continue
        outcome = final[i]
        detail = f"{outcome.chunks} chunks" if outcome.status == "indexed" else (outcome.error or "")
        failed += outcome.status == "failed"
        typer.echo(f"{outcome.status.value}\t{path}\t{reg.document_id}\t{detail}")
    if final is not None:
        err.print(f"{len(sink.taken) + len(problems) - failed} indexed, {failed} failed")
    return failed


def _take_in(container: CliServices, wait: bool, feed: Callable[[QueueSink], SyncReport]) -> int:
    """Feed files to a sink, then follow them to a final status when asked (or when the
    worker runs here and must finish them before the process exits)."""
    with worker_if_needed(container) as runner:
        queue = None if runner == "server" else container.queue
        sink = QueueSink(container.intake, container.documents, queue)
        report = feed(sink)
        final = None
        if wait or runner == "local":
            final = follow(container, [(path, reg.document_id, reg.version) for path, reg in sink.taken])
    return _report(sink, report.errors, report.removed, final)


def ingest_paths(container: CliServices, paths: Sequence[Path], acl: Acl, wait: bool) -> int:
    """Register and queue files; folders are synced, so their deleted files leave the index too.

    Prints one line per file; returns how many failed.
    """
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InvalidInput(f"no such file or folder: {missing[0]}")
    rule = AclRule(prefix="", users=sorted(acl.users), groups=sorted(acl.groups), public=acl.public)

    def feed(sink: QueueSink) -> SyncReport:
        total = SyncReport()
        for path in paths:
            if path.is_dir():
                report = sync_folder(path, sink, [rule.model_copy(update={"prefix": str(path.resolve())})])
                total.errors += report.errors
                total.removed += report.removed
            else:
                sink.submit(path, source=path.resolve().as_uri(), acl=acl)
        return total

    return _take_in(container, wait, feed)


def sync_connectors(container: CliServices, wait: bool) -> int:
    """Run every configured connector once; prints like `ingest_paths`, returns how many failed."""
    connectors = container.settings.connectors
    if not (connectors.folders or connectors.web_seeds):
        raise InvalidInput("no connectors configured (SILLOK_CONNECTORS__FOLDERS or __WEB_SEEDS)")

    def feed(sink: QueueSink) -> SyncReport:
        total = SyncReport()
        max_bytes = container.settings.ingest.max_file_mb * 1_000_000
        for where, report in sync_all(connectors, sink, container.users, max_bytes):
            err.print(
                f"{where}: {len(report.new)} new, {len(report.changed)} changed, "
                f"{report.unchanged} unchanged, {len(report.removed)} removed, {len(report.errors)} errors"
            )
            total.errors += report.errors
            total.removed += report.removed
        return total

    return _take_in(container, wait, feed)
