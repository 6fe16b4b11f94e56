"""The ingestion pipeline as a plain, idempotent function of (document id, version).

`process` parses, chunks, embeds and upserts a registered version (see `core.intake`), then
switches readers to it and deletes the points of every other version. Running it twice leaves
the same state as running it once: point ids are uuid5 of (document, version, chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog

from core.acl import Acl
from core.documents import DocumentRegistry, acl_of
from core.errors import DocumentError, DocumentTooLarge, EmptyDocument, NotFound
from core.ports import DocumentParser, Embedder, VectorIndex
from core.types import Chunk, DocumentStatus
from ingest.chunking import Chunker
from ingest.storing import store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What `process` did to one version."""

    document_id: str
    version: str
    status: DocumentStatus
    chunks: int = 0
    error_code: str | None = None
    error: str | None = None
    seconds: float = 0.0


class IngestionPipeline:
    """From a file on disk to indexed, ACL-tagged chunks."""

    def __init__(
        self,
        registry: DocumentRegistry,
        parser: DocumentParser,
        chunker: Chunker,
        embedder: Embedder,
        index: VectorIndex,
        max_chunks: int = 50_000,
    ) -> None:
        self._registry = registry
        self._parser = parser
        self._chunker = chunker
        self._embedder = embedder
        self._index = index
        self._max_chunks = max_chunks

    def process(self, document_id: str, version: str, stale_after: timedelta | None = None) -> Outcome:
        """Index one version; a version already taken by another run is left alone.

        Readers switch to the new version in one registry commit after all its points are
        stored; the other versions' points are removed afterwards. A transient failure (index
        or database unavailable) gives the version back to the queue and re-raises. A document
        deleted before or while its version is processed leaves nothing behind.
        """
        try:
            return self._process(document_id, version, stale_after)
        except NotFound:  # deleted meanwhile: its task is done, not failed
            self._index.delete_version(document_id, version)
            log.info("document_deleted_before_indexing", document_id=document_id)
            return Outcome(document_id, version, DocumentStatus.DELETED, 0)

    def _process(self, document_id: str, version: str, stale_after: timedelta | None) -> Outcome:
        if not self._registry.start(document_id, version, stale_after):
            ver = self._registry.version(document_id, version)
            return Outcome(document_id, version, DocumentStatus(ver.status), ver.chunk_count)
        started = time.perf_counter()
        ver = self._registry.version(document_id, version)
        doc = ver.document
        try:
            chunks = self._chunks(
                Path(ver.stored_path), doc.filename, doc.title, document_id, version, acl_of(ver)
            )
            store(
                chunks,
                self._embedder,
                self._index,
                lambda done: self._registry.progress(document_id, version, done, len(chunks)),
            )
        except DocumentError as exc:
            self._index.delete_version(document_id, version)
            self._registry.fail(document_id, version, exc.code, exc.message)
            log.info("document_failed", document_id=document_id, code=exc.code, reason=exc.message)
            return Outcome(document_id, version, DocumentStatus.FAILED, 0, exc.code, exc.message)
        except BaseException:
            self._registry.requeue(document_id, version)
            raise
        if not self._registry.finish(document_id, version, len(chunks)):
            self._index.delete_version(document_id, version)
            return Outcome(document_id, version, DocumentStatus.SUPERSEDED, len(chunks))
        self._index.delete_document(document_id, keep_version=version)
        self.apply_acl(document_id)  # in case the ACL changed while the version was processed
        seconds = time.perf_counter() - started
        log.info("document_indexed", document_id=document_id, chunks=len(chunks), seconds=round(seconds, 2))
        return Outcome(document_id, version, DocumentStatus.INDEXED, len(chunks), seconds=seconds)

    def _chunks(
        self, path: Path, filename: str, title: str, document_id: str, version: str, acl: Acl
    ) -> list[Chunk]:
        parsed = self._parser.parse(path, filename)
        pieces = self._chunker.chunk(parsed.elements)
        if not pieces:
            raise EmptyDocument("the file contains no text")
        if len(pieces) > self._max_chunks:
            raise DocumentTooLarge(
                f"the document yields {len(pieces)} passages; the limit is {self._max_chunks} per document"
            )
        tokens = acl.tokens()
        return [
            Chunk(document_id, version, i, p.text, title, tokens, p.page, p.section)
            for i, p in enumerate(pieces)
        ]

    def apply_acl(self, document_id: str) -> None:
        """Copy a document's ACL from the registry onto every point, without re-embedding."""
        try:
            doc = self._registry.get(document_id)
        except NotFound:
            return
        self._index.set_acl(document_id, acl_of(doc).tokens())
        self._registry.acl_applied(document_id, doc.acl_revision)

    def purge(self, document_id: str) -> None:
        """Remove the points of a document that is no longer in the registry."""
        try:
            self._registry.get(document_id)
        except NotFound:
            self._index.delete_document(document_id)

    def optimize_index(self) -> bool:
        """Build the index's HNSW graph over what was stored since the last call (blocking; an
        index without the step, such as a Qdrant server that indexes itself, does nothing)."""
        optimize = getattr(self._index, "optimize", None)
        return bool(optimize()) if callable(optimize) else False

    def remove_orphans(self) -> int:
        """Delete points whose document or version readers can no longer reach; how many."""
        stored = {(p.document_id, p.version) for p in self._index.points()}
        live = self._registry.live_versions()  # read second: a version started meanwhile is live
        orphans = {(doc, ver) for doc, ver in stored if ver not in live.get(doc, ())}
        for document_id, version in orphans:
            if document_id in live:
                self._index.delete_version(document_id, version)
            else:
                self._index.delete_document(document_id)
        return len(orphans)
