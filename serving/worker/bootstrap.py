"""The composition root of a worker process (`sillok worker`, `celery -A serving.worker.celery_main`,
or the worker `sillok serve` hosts on the embedded default): the ingestion side, never the web app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from core.documents import DocumentRegistry
from core.ports import Embedder, VectorIndex
from core.settings import Settings
from core.telemetry import setup_tracing, telemetry_of
from ingest.tasks import TaskServices
from serving.factories import Indexed, Stores
from serving.logs import configure_logging

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from ingest.connectors.report import SyncReport
    from ingest.parsers.sandbox import SandboxedParser
    from ingest.pipeline import IngestionPipeline
    from serving.worker.embedded import EmbeddedWorker


@dataclass
class WorkerServices(Indexed):
    """The parser, the pipeline and the periodic work, over the stores (shared with the root
    `shared` names, when one process hosts both)."""

    def chunker(self) -> Chunker:
        """A chunker sized in the embedder's tokens."""
        from ingest.chunking import Chunker

        chunking = self.settings.chunking
        limit = min(chunking.chunk_tokens, self.embedder.max_tokens - 16)
        return Chunker(self.embedder.count_tokens, limit, min(chunking.overlap_tokens, limit // 2))

    @cached_property
    def parser(self) -> SandboxedParser:
        """Reads documents in sandboxed child processes, one per worker thread."""
        from ingest.parsers.factory import make_parser

        return make_parser(self.settings.ingest, processes=self.settings.ingest.worker_concurrency)

    @cached_property
    def pipeline(self) -> IngestionPipeline:
        """Processes registered versions into the index."""
        return self.make_pipeline(self.documents, self.embedder, self.index)

    def make_pipeline(
        self, documents: DocumentRegistry, embedder: Embedder, index: VectorIndex
    ) -> IngestionPipeline:
        """A pipeline over the given stores (benchmarks use isolated ones)."""
        from ingest.pipeline import IngestionPipeline

        max_chunks = self.settings.ingest.max_chunks
        return IngestionPipeline(documents, self.parser, self.chunker(), embedder, index, max_chunks)

    def reconcile(self) -> None:
        """Re-send stuck work and remove unreachable points (the periodic task)."""
        from ingest.reconcile import reconcile

        reconcile(self.documents, self.queue, self.pipeline, self.settings.ingest)

    def sync_connectors(self) -> list[tuple[str, SyncReport]]:
        """Synchronise the configured folders and sites now (the periodic task)."""
        from ingest.connectors.runs import QueueSink, sync_all

        sink = QueueSink(self.intake, self.documents, self.queue)
        max_bytes = self.settings.ingest.max_file_mb * 1_000_000
        return sync_all(self.settings.connectors, sink, self.users, max_bytes)

    def task_services(self) -> TaskServices:
        """What the Celery tasks of this process use (builds the pipeline)."""
        return TaskServices(
            pipeline=self.pipeline,
            reconcile=self.reconcile,
            sync_connectors=self.sync_connectors,
            stale_after=timedelta(seconds=self.settings.ingest.stale_after_s),
        )

    def start(self) -> None:
        """Load the readers, the model and the index up front, before taking tasks."""
        self.parser.start()
        _ = self.pipeline

    def embedded_worker(self) -> EmbeddedWorker:
        """A worker and beat inside this process; once started, its tasks use this root."""
        from serving.worker.embedded import EmbeddedWorker

        return EmbeddedWorker(
            self.celery,
            self.task_services,
            self.settings.data_dir / "beat-schedule",
            self.settings.ingest.worker_concurrency,
        )

    def close(self) -> None:
        """Stop the parser children and release what this root opened."""
        if "parser" in self.__dict__:
            self.parser.close()
        super().close()


def build_worker(settings: Settings | None = None, shared: Stores | None = None) -> WorkerServices:
    """A worker's root; with `shared`, over that root's database, embedder and index."""
    if shared is not None:
        return WorkerServices(shared.settings, shared)
    settings = settings or Settings()
    configure_logging(settings)
    setup_tracing(telemetry_of(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return WorkerServices(settings)
