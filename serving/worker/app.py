"""The Celery app and its thin tasks: ids in, nothing out, each safe to run twice.

Work goes to two queues: `ingest` (parsing and embedding, heavy) and `light` (ACL updates,
deletions, reconciliation, connector syncs). The registry in SQL is the source of truth; a lost
message is re-sent by the periodic reconciler, a duplicate one finds nothing left to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from celery import Celery
from sqlalchemy.exc import OperationalError

from core.errors import DependencyUnavailable
from serving.metrics import TASK_SECONDS

if TYPE_CHECKING:
    from serving.bootstrap import Container

log = structlog.get_logger(__name__)

INGEST_QUEUE = "ingest"
LIGHT_QUEUE = "light"
QUEUES = (INGEST_QUEUE, LIGHT_QUEUE)
INGEST_VERSION = "sillok.ingest_version"
APPLY_ACL = "sillok.apply_acl"
PURGE_DOCUMENT = "sillok.purge_document"
RECONCILE = "sillok.reconcile"
SYNC_CONNECTORS = "sillok.sync_connectors"
_TRANSIENT = (DependencyUnavailable, OperationalError, ConnectionError, TimeoutError)


def make_celery(container: Container) -> Celery:
    """The Celery app of one process; its tasks use `container`'s pipeline and registry."""
    settings = container.settings
    ingest = settings.ingest
    app = Celery("sillok", broker=ingest.broker_url or "memory://", set_as_current=False)
    schedule: dict[str, dict[str, Any]] = {
        "reconcile": {"task": RECONCILE, "schedule": ingest.reconcile_interval_s}
    }
    if settings.connectors.folders or settings.connectors.web_seeds:
        schedule["sync-connectors"] = {
            "task": SYNC_CONNECTORS,
            "schedule": settings.connectors.sync_interval_s,
        }
    app.conf.update(
        task_acks_late=True,  # every task is idempotent, so redelivery after a crash is safe
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=LIGHT_QUEUE,
        task_routes={INGEST_VERSION: {"queue": INGEST_QUEUE}},
        broker_transport_options={"visibility_timeout": ingest.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule=schedule,
    )
    retrying: dict[str, Any] = {
        "bind": True,
        "autoretry_for": _TRANSIENT,
        "retry_backoff": 2,
        "retry_backoff_max": 300,
        "retry_jitter": True,
        "max_retries": 8,
    }
    stale_after = timedelta(seconds=ingest.stale_after_s)

    def timed(name: str, work: Callable[[], object]) -> None:
        started = time.perf_counter()
        outcome = "error"
        try:
            work()
            outcome = "ok"
        finally:
            TASK_SECONDS.labels(name, outcome).observe(time.perf_counter() - started)

    @app.task(name=INGEST_VERSION, **retrying)
    def ingest_version(_task: Any, document_id: str, version: str) -> None:
        """Parse, chunk, embed and store one document version."""
        timed("ingest_version", lambda: container.pipeline.process(document_id, version, stale_after))

    @app.task(name=APPLY_ACL, **retrying)
    def apply_acl(_task: Any, document_id: str) -> None:
        """Copy a document's ACL from the registry onto its stored points."""
        timed("apply_acl", lambda: container.pipeline.apply_acl(document_id))

    @app.task(name=PURGE_DOCUMENT, **retrying)
    def purge_document(_task: Any, document_id: str) -> None:
        """Remove the points of a document deleted from the registry."""
        timed("purge_document", lambda: container.pipeline.purge(document_id))

    @app.task(name=RECONCILE, **retrying)
    def reconcile(_task: Any) -> None:
        """Re-send work stuck in `queued` or `processing`; remove points nobody can reach."""
        timed("reconcile", lambda: container.reconcile())

    @app.task(name=SYNC_CONNECTORS, **retrying)
    def sync_connectors(_task: Any) -> None:
        """Synchronise the configured folders and intranet sites."""
        timed("sync_connectors", lambda: container.sync_connectors())

    return app
