"""Tracing setup for every process: one tracer provider, exporting only where configured.

With no OTLP endpoint and no span file the provider still creates spans (so trace ids reach
the logs and propagate to tasks), but no exporter is installed and no connection is made.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from core.telemetry_settings import TelemetrySettings

_lock = threading.Lock()
_provider: TracerProvider | None = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line (ids in hex) to a file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write `spans`, one line each."""
        lines = [json.dumps(span_record(s)) + "\n" for s in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.writelines(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: the file is opened per batch."""


def span_record(span: ReadableSpan) -> dict[str, object]:
    """The ids, name and attributes of a span, as plain JSON values."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "attributes": {k: str(v) for k, v in (span.attributes or {}).items()},
    }


def setup_tracing(settings: TelemetrySettings, extra: Sequence[SpanExporter] = ()) -> TracerProvider:
    """Install this process's tracer provider once (later calls return the first one)."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if settings.otlp_endpoint:
            # Imported only when configured: the exporter is the one piece that opens connections.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        if settings.span_file is not None:
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(settings.span_file)))
        for exporter in extra:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def telemetry_of(settings: object) -> TelemetrySettings:
    """`settings.telemetry`, or the defaults (no export) where the settings carry none."""
    found = getattr(settings, "telemetry", None)
    return found if isinstance(found, TelemetrySettings) else TelemetrySettings()


def shutdown_tracing() -> None:
    """Flush and stop the exporters of this process (at exit)."""
    if _provider is not None:
        _provider.shutdown()


def current_trace_id() -> str | None:
    """The hex trace id of the current span, for log lines; None outside any trace."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


tracer = trace.get_tracer("sillok")
