"""What a worker's tasks need from this process's container, handed to `ingest.tasks`."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from core.settings import Settings
from ingest.pipeline import IngestionPipeline
from ingest.tasks import TaskServices


class _Builds(Protocol):
    """The members of `serving.bootstrap.Container` the tasks use."""

    settings: Settings

    @property
    def pipeline(self) -> IngestionPipeline: ...

    def reconcile(self) -> None: ...

    def sync_connectors(self) -> None: ...


def task_services(container: _Builds) -> TaskServices:
    """The pipeline, reconciler and connector sync of `container` (builds the pipeline)."""
    return TaskServices(
        pipeline=container.pipeline,
        reconcile=container.reconcile,
        sync_connectors=container.sync_connectors,
        stale_after=timedelta(seconds=container.settings.ingest.stale_after_s),
    )
