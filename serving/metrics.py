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


PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport: one list per queue and priority step


class QueueCollector(Collector):
    """Messages waiting in each Celery queue on Redis (`LLEN`, read at scrape time), the number
    KEDA scales the workers on."""

    def __init__(self, broker_url: str, queues: tuple[str, ...]) -> None:
        import redis

        self._redis = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        self._queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge sample per queue; no sample when Redis does not answer."""
        gauge = GaugeMetricFamily(
            "sillok_queue_messages", "Messages waiting in a Celery queue", labels=["queue"]
        )
        try:
            for queue in self._queues:
                keys = [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in (3, 6, 9))]
                pipeline = self._redis.pipeline()
                for key in keys:
                    pipeline.llen(key)
                gauge.add_metric([queue], float(sum(pipeline.execute())))
        except Exception:  # a scrape must not fail because the broker is down; readiness reports it
            return
        yield gauge


def register_queue_metrics(broker_url: str | None, queues: tuple[str, ...]) -> None:
    """Expose the queue lengths from this process (once) when the broker is Redis."""
    if not broker_url or not broker_url.startswith(("redis://", "rediss://")):
        return
    with contextlib.suppress(ValueError):
        REGISTRY.register(QueueCollector(broker_url, queues))
