"""Prometheus metrics of ingestion: queue depth read at scrape time (task durations are timed
in `ingest.tasks`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class IngestionCollector(Collector):
    """Document versions per ingestion state (`queued` is the queue depth) at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge sample per state."""
        gauge = GaugeMetricFamily(
            "sillok_document_versions", "Document versions by ingestion state", labels=["status"]
        )
        counts = self._counts()
        for status in ("queued", "processing", "indexed", "failed", "superseded"):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge


def register_ingestion_metrics(counts: Callable[[], dict[str, int]]) -> None:
    """Expose the ingestion gauges from this process (once)."""
    with contextlib.suppress(ValueError):  # already registered in this process
        REGISTRY.register(IngestionCollector(counts))
