"""A `DocumentSink` over the real pipeline and registry, for the connector tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.acl import Acl
from core.db.engine import make_engine, migrate, session_factory
from core.documents import CONNECTOR_NAMESPACE, DocumentRegistry, Registration, document_id_for
from core.intake import Intake
from core.types import DocumentStatus
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker
from ingest.parsers.registry import ParserRegistry
from ingest.pipeline import IngestionPipeline


class PipelineSink:
    """Registers through the pipeline, applies ACL changes at once, deletes from SQL and index."""

    def __init__(self, intake: Intake, pipeline: IngestionPipeline, registry: DocumentRegistry) -> None:
        self.intake = intake
        self.pipeline = pipeline
        self.registry = registry

    def submit(
        self,
        path: Path,
        *,
        source: str,
        acl: Acl,
        title: str | None = None,
        filename: str | None = None,
    ) -> Registration:
        registration = self.intake.submit(
            path, namespace=CONNECTOR_NAMESPACE, source=source, acl=acl, title=title, filename=filename
        )
        if registration.acl_changed:
            self.pipeline.apply_acl(registration.document_id)
        return registration

    def remove(self, source: str) -> None:
        document_id = document_id_for(CONNECTOR_NAMESPACE, source)
        self.registry.delete(document_id)
        self.pipeline.purge(document_id)

    def sources(self, prefix: str) -> set[str]:
        return self.registry.sources(CONNECTOR_NAMESPACE, prefix)


@dataclass
class Parts:
    """The real components a connector test drives and inspects."""

    sink: PipelineSink
    pipeline: IngestionPipeline
    registry: DocumentRegistry
    index: QdrantEdgeIndex
    embedder: Any

    def readable_documents(self, query: str, tokens: set[str]) -> set[str]:
        """Ids of the documents whose points a holder of `tokens` finds for `query` in the index."""
        hits = self.index.search(self.embedder.embed_query(query), frozenset(tokens), 50)
        return {hit.chunk.document_id for hit in hits}

    def process(self, registrations: list[Registration]) -> list[DocumentStatus]:
        """Index every registration, as the workers would, and return the outcomes."""
        return [self.pipeline.process(r.document_id, r.version).status for r in registrations]


@contextmanager
def pipeline_parts(tmp_path: Path, embedder) -> Iterator[Parts]:  # type: ignore[no-untyped-def]
    """A pipeline on SQLite and a Qdrant Edge shard under `tmp_path`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    index = QdrantEdgeIndex(tmp_path / "qdrant")
    index.ensure_collection(embedder.dimension, embedder.name)
    registry = DocumentRegistry(session_factory(engine))
    pipeline = IngestionPipeline(
        registry,
        ParserRegistry(10_000_000),
        Chunker(embedder.count_tokens, 120, 20),
        embedder,
        index,
    )
    try:
        yield Parts(
            PipelineSink(Intake(registry, tmp_path / "files"), pipeline, registry),
            pipeline,
            registry,
            index,
            embedder,
        )
    finally:
        index.close()
        engine.dispose()
