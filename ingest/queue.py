"""The producer side: send work to the queue, and remember what was sent."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery
from opentelemetry.trace import SpanKind

from core.documents import DocumentRegistry
from core.telemetry import tracer
from ingest.tasks import (
    APPLY_ACL,
    INGEST_QUEUE,
    INGEST_VERSION,
    LIGHT_QUEUE,
    PURGE_DOCUMENT,
    RECONCILE,
)

log = structlog.get_logger(__name__)


class TaskQueue:
    """Sends tasks by name; a broker outage is logged, never raised (the reconciler re-sends)."""

    def __init__(self, app: Celery, registry: DocumentRegistry) -> None:
        self._app = app
        self._registry = registry

    def ingest(self, document_id: str, version: str) -> bool:
        """Queue the processing of one version; True when the broker took it."""
        sent = self._send(INGEST_VERSION, [document_id, version], INGEST_QUEUE)
        if sent:
            self._registry.mark_enqueued(document_id, version)
        return sent

    def apply_acl(self, document_id: str) -> bool:
        """Queue the update of a document's stored ACL."""
        return self._send(APPLY_ACL, [document_id], LIGHT_QUEUE)

    def purge(self, document_id: str) -> bool:
        """Queue the removal of a deleted document's points."""
        return self._send(PURGE_DOCUMENT, [document_id], LIGHT_QUEUE)

    def reconcile(self) -> bool:
        """Queue a reconciliation now (workers do it at start and then periodically)."""
        return self._send(RECONCILE, [], LIGHT_QUEUE)

    def _send(self, name: str, args: list[Any], queue: str) -> bool:
        try:
            # The publish hook in `ingest.tasks` puts this span's context in the message headers.
            with tracer.start_as_current_span(f"send {name}", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("messaging.destination.name", queue)
                self._app.send_task(name, args=args, queue=queue)
        except Exception as exc:  # any broker failure: the registry keeps the work
            log.warning("enqueue_failed", task=name, args=args, error=type(exc).__name__)
            return False
        return True
