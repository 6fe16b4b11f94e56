"""`celery -A serving.worker.celery_main worker -Q ingest,light`: a plain Celery worker.

Importing this module reads the settings from the environment and configures the app; it
creates no client. The worker's root is built when the worker starts (`worker_init`) or, with the
forking pool, in each child after the fork (`worker_process_init`), so the model, the parser's
readers and the index are loaded after fork, never in the parent.
"""

from __future__ import annotations

# ruff: noqa: E402 (the other imports must come after this call)
from core.offline import disable_phone_home

disable_phone_home()  # before any library is imported: some read their telemetry switches only then

import os
from typing import TYPE_CHECKING, Any

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from core.settings import Settings
from ingest.tasks import app, configure, install

if TYPE_CHECKING:
    from serving.worker.bootstrap import WorkerServices

__all__ = ["app"]

configure(app, Settings())
_built: dict[int, WorkerServices] = {}  # pid -> the worker root of that process


def _start() -> None:
    from serving.worker.bootstrap import build_worker

    if os.getpid() in _built:
        return
    worker = build_worker()
    _built[os.getpid()] = worker
    worker.start()  # the readers, the model and the index, once, up front
    install(worker.task_services())
    worker.queue.reconcile()


def _stop() -> None:
    worker = _built.pop(os.getpid(), None)
    if worker is not None:
        worker.close()


def _forks(worker: Any) -> bool:
    pool = getattr(worker, "pool_cls", None)
    return "prefork" in f"{getattr(pool, '__module__', '')} {pool}"


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    if not _forks(sender):
        _start()


def _on_worker_process_init(**_: Any) -> None:
    _start()


def _on_worker_process_shutdown(**_: Any) -> None:
    _stop()


def _on_worker_shutdown(**_: Any) -> None:
    _stop()


worker_init.connect(_on_worker_init)
worker_process_init.connect(_on_worker_process_init)
worker_process_shutdown.connect(_on_worker_process_shutdown)
worker_shutdown.connect(_on_worker_shutdown)
