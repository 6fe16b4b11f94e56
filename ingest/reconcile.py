"""The periodic repair of ingestion: nothing stays stuck, nothing unreachable stays stored."""

from __future__ import annotations

from datetime import timedelta

import structlog

from core.documents import DocumentRegistry
from core.ports import WorkQueue
from core.settings import IngestSettings
from ingest.pipeline import IngestionPipeline

log = structlog.get_logger(__name__)


def reconcile(
    registry: DocumentRegistry, queue: WorkQueue, pipeline: IngestionPipeline, settings: IngestSettings
) -> tuple[int, int]:
    """Re-send versions never sent, sent long ago or stuck processing, and ACLs not yet applied
    to the stored points; delete orphan points.

    Returns (tasks re-sent, orphan versions removed).
    """
    pending = registry.pending(
        timedelta(seconds=settings.requeue_after_s), timedelta(seconds=settings.stale_after_s)
    )
    sent = sum(queue.ingest(document_id, version) for document_id, version in pending)
    acl_sent = sum(queue.apply_acl(document_id) for document_id in registry.acl_pending())
    removed = pipeline.remove_orphans()
    if sent or acl_sent or removed:
        log.info("reconciled", resent=sent, acl_updates=acl_sent, orphans_removed=removed)
    if not pending and pipeline.optimize_index():  # nothing left to ingest: index it off any query's path
        log.info("vector index optimised")
    return sent + acl_sent, removed
