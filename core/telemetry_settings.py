"""Settings of the traces (`SILLOK_TELEMETRY__*`): where spans go, and how many are kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class TelemetrySettings(BaseModel):
    """OpenTelemetry tracing; with no endpoint and no span file, nothing is exported anywhere."""

    otlp_endpoint: str | None = None  # e.g. http://otel-collector:4318/v1/traces (OTLP/HTTP)
    service_name: str = "sillok"
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)  # of new traces; children follow
    span_file: Path | None = None  # finished spans as JSON lines (tests read a worker's spans)
