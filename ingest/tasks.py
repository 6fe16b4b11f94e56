"""The Celery app and its thin tasks: ids in, nothing out, each safe to run twice.

Work goes to two queues: `ingest` (parsing and embedding, heavy) and `light` (ACL updates,
deletions, reconciliation, connector syncs). The registry in SQL is the source of truth; a lost
message is re-sent by the periodic reconciler, a duplicate one finds nothing left to do.

The app and the tasks live at module level, so each task name is registered once per process
and `celery -A serving.worker.celery_main worker` finds them. What the tasks work with is not
built here: the worker's bootstrap calls `configure` with the settings and `install` with the
services of its container (after fork, when the pool forks); installing again replaces them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import Histogram
from sqlalchemy.exc import OperationalError

from core.errors import DependencyUnavailable
from core.telemetry import tracer

if TYPE_CHECKING:
    from core.settings import Settings

INGEST_QUEUE = "ingest"
LIGHT_QUEUE = "light"
QUEUES = (INGEST_QUEUE, LIGHT_QUEUE)
INGEST_VERSION = "sillok.ingest_version"
APPLY_ACL = "sillok.apply_acl"
PURGE_DOCUMENT = "sillok.purge_document"
RECONCILE = "sillok.reconcile"
SYNC_CONNECTORS = "sillok.sync_connectors"
_TRANSIENT = (DependencyUnavailable, OperationalError, ConnectionError, TimeoutError)

TASK_SECONDS = Histogram(
    "sillok_task_seconds",
    "Duration of background tasks",
    ["task", "outcome"],
    buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)

# No broker connection is made here: the URL is only read when something is sent or consumed.
app = Celery("sillok", broker="memory://", set_as_current=False)


class Pipeline(Protocol):
    """The part of `ingest.pipeline.IngestionPipeline` the tasks call (all idempotent)."""

    def process(self, document_id: str, version: str, stale_after: timedelta | None = None) -> object:
        """Index one registered version."""
        ...

    def apply_acl(self, document_id: str) -> None:
        """Copy a document's ACL onto its stored points."""
        ...

    def purge(self, document_id: str) -> None:
        """Remove the points of a deleted document."""
        ...


@dataclass(frozen=True)
class TaskServices:
    """What the tasks of this process work with, installed by the worker's bootstrap."""

    pipeline: Pipeline
    reconcile: Callable[[], object]
    sync_connectors: Callable[[], object]
    stale_after: timedelta


_installed: TaskServices | None = None
_lock = threading.Lock()


def install(installed: TaskServices) -> None:
    """Make `installed` what the tasks use from now on (replacing any installed before)."""
    global _installed
    with _lock:
        _installed = installed


def uninstall(installed: TaskServices) -> None:
    """Forget `installed` if it is still what the tasks use (its worker stopped)."""
    global _installed
    with _lock:
        if _installed is installed:
            _installed = None


def services() -> TaskServices:
    """The installed services; a task that runs before any were installed is retried later."""
    current = _installed
    if current is None:
        raise DependencyUnavailable("no task services installed in this worker yet")
    return current


def configure(celery: Celery, settings: Settings) -> Celery:
    """Apply the broker, the periodic schedule and the delivery settings of `settings`."""
    ingest = settings.ingest
    schedule: dict[str, dict[str, Any]] = {
        "reconcile": {"task": RECONCILE, "schedule": ingest.reconcile_interval_s}
    }
    if settings.connectors.folders or settings.connectors.web_seeds:
        schedule["sync-connectors"] = {
            "task": SYNC_CONNECTORS,
            "schedule": settings.connectors.sync_interval_s,
        }
    broker = ingest.broker_url or "memory://"
    if celery.conf.broker_url != broker:
        _drop_connections(celery)
    celery.conf.update(
        broker_url=broker,
        task_acks_late=True,  # every task is idempotent, so redelivery after a crash is safe
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=LIGHT_QUEUE,
        task_routes={INGEST_VERSION: {"queue": INGEST_QUEUE}},
        broker_transport_options=_transport_options(broker, ingest.visibility_timeout_s),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule=schedule,
    )
    return celery


def _transport_options(broker: str, visibility_timeout_s: float) -> dict[str, float]:
    """Redis waits on the queue itself; the in-process broker is polled, by default once a second
    per queue, which would leave the embedded worker idle two seconds between documents."""
    options = {"visibility_timeout": visibility_timeout_s}
    if broker.startswith("memory://"):
        options["polling_interval"] = 0.05
    return options


def _drop_connections(celery: Celery) -> None:
    """Forget the pooled connections to the previous broker (as Celery does after a fork)."""
    if celery._pool is not None:
        celery._pool.force_close_all()
        celery._pool = None
    amqp = vars(celery).get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def _timed(name: str, work: Callable[[], object]) -> None:
    started = time.perf_counter()
    outcome = "error"
    try:
        work()
        outcome = "ok"
    finally:
        TASK_SECONDS.labels(name, outcome).observe(time.perf_counter() - started)


_RETRYING: dict[str, Any] = {
    "bind": True,
    "autoretry_for": _TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


def _ingest_version(_task: Any, document_id: str, version: str) -> None:
    """Parse, chunk, embed and store one document version."""
    s = services()
    _timed("ingest_version", lambda: s.pipeline.process(document_id, version, s.stale_after))


def _apply_acl(_task: Any, document_id: str) -> None:
    """Copy a document's ACL from the registry onto its stored points."""
    s = services()
    _timed("apply_acl", lambda: s.pipeline.apply_acl(document_id))


def _purge_document(_task: Any, document_id: str) -> None:
    """Remove the points of a document deleted from the registry."""
    s = services()
    _timed("purge_document", lambda: s.pipeline.purge(document_id))


def _reconcile(_task: Any) -> None:
    """Re-send work stuck in `queued` or `processing`; remove points nobody can reach."""
    _timed("reconcile", services().reconcile)


def _sync_connectors(_task: Any) -> None:
    """Synchronise the configured folders and intranet sites."""
    _timed("sync_connectors", services().sync_connectors)


# Registered once per process, under the names the producers send (see `TaskQueue`).
ingest_version = app.task(name=INGEST_VERSION, **_RETRYING)(_ingest_version)
apply_acl = app.task(name=APPLY_ACL, **_RETRYING)(_apply_acl)
purge_document = app.task(name=PURGE_DOCUMENT, **_RETRYING)(_purge_document)
reconcile = app.task(name=RECONCILE, **_RETRYING)(_reconcile)
sync_connectors = app.task(name=SYNC_CONNECTORS, **_RETRYING)(_sync_connectors)


# Trace context travels in the message headers: the sender's span becomes the task span's parent.
_running: dict[str, tuple[trace.Span, object]] = {}


def _inject_trace(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        propagate.inject(headers)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if isinstance(request_id, str):
            headers["sillok_request_id"] = request_id  # the task's log lines name the request


def _start_task_span(task_id: str = "", task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    carrier = {k: v for k in ("traceparent", "tracestate") if isinstance(v := getattr(request, k, None), str)}
    span = tracer.start_span(
        f"run {getattr(task, 'name', 'task')}",
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "celery", "messaging.message.id": task_id},
    )
    _running[task_id] = (span, otel_context.attach(trace.set_span_in_context(span)))
    request_id = getattr(request, "sillok_request_id", None)
    structlog.contextvars.bind_contextvars(request_id=request_id if isinstance(request_id, str) else None)


def _end_task_span(task_id: str = "", state: str | None = None, **_: Any) -> None:
    structlog.contextvars.unbind_contextvars("request_id")
    started = _running.pop(task_id, None)
    if started is None:
        return
    span, token = started
    span.set_attribute("celery.state", state or "")
    otel_context.detach(token)  # type: ignore[arg-type]
    span.end()


before_task_publish.connect(_inject_trace, weak=False)
task_prerun.connect(_start_task_span, weak=False)
task_postrun.connect(_end_task_span, weak=False)
