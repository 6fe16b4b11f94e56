"""`celery -A tests.integration.trace_worker worker`: the real tasks on Redis over a recording pipeline.

The broker URL and the span file come from the environment the test sets; the pipeline opens
a span of its own, so the test sees the task span's child too.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from celery.signals import worker_process_init, worker_shutdown

from core.telemetry import setup_tracing, shutdown_tracing, tracer
from core.telemetry_settings import TelemetrySettings
from ingest.tasks import TaskServices, app, install

app.conf.update(broker_url=os.environ["TRACE_TEST_BROKER"], task_ignore_result=True)


class RecordingPipeline:
    """Does nothing but leave a span per call."""

    def process(self, document_id: str, version: str, stale_after: timedelta | None = None) -> object:
        """One span standing for the parse, embed and store."""
        with tracer.start_as_current_span("pipeline.process", attributes={"sillok.version": version}):
            return None

    def apply_acl(self, document_id: str) -> None:
        """Nothing to copy."""

    def purge(self, document_id: str) -> None:
        """Nothing to remove."""


def _start() -> None:
    setup_tracing(
        TelemetrySettings(service_name="sillok-worker", span_file=Path(os.environ["TRACE_TEST_SPANS"]))
    )
    install(TaskServices(RecordingPipeline(), lambda: None, lambda: None, timedelta(hours=1)))


_start()
worker_process_init.connect(lambda **_: _start(), weak=False)
worker_shutdown.connect(lambda **_: shutdown_tracing(), weak=False)
