"""A Celery worker and beat running inside this process (the embedded default, not eager mode)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController

from ingest.tasks import QUEUES, TaskServices, install, uninstall


class _Controller(WorkController):  # type: ignore[misc]
    """A worker that tells when its consumer is ready."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class EmbeddedWorker:
    """Consumes the queues with a thread pool and runs the periodic schedule in threads.

    `services` is called at start, and what it returns is what the tasks use from then on (a
    later embedded worker in the same process installs its own).
    """

    def __init__(
        self,
        app: Celery,
        services: Callable[[], TaskServices],
        schedule_file: Path,
        concurrency: int = 1,
        queues: Sequence[str] = QUEUES,
    ) -> None:
        app.finalize()
        self._services = services
        self._installed: TaskServices | None = None
        for name in ("celery", "kombu"):  # the web server's log is not the place for per-task lines
            logging.getLogger(name).setLevel(logging.WARNING)
        self._worker = _Controller(
            app=app,
            pool="threads",
            concurrency=concurrency,
            queues=list(queues),
            hostname=f"embedded-{threading.get_native_id()}@sillok",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="WARNING",
        )
        self._beat = EmbeddedService(app, thread=True, schedule_filename=str(schedule_file))
        self._thread = threading.Thread(target=self._worker.start, name="sillok-worker", daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start consuming; returns once the worker is ready."""
        self._installed = self._services()
        install(self._installed)
        self._thread.start()
        if not self._worker.ready.wait(timeout_s):
            raise RuntimeError("the embedded worker did not start")
        self._beat.start()

    def stop(self) -> None:
        """Finish the running task and stop."""
        self._beat.stop()
        self._worker.stop(in_sighandler=False, exitcode=0)
        self._thread.join(timeout=30)
        if self._installed is not None:
            uninstall(self._installed)
