"""The document parser the product uses, built from `IngestSettings`."""

from __future__ import annotations

from functools import partial

from core.settings import IngestSettings
from ingest.parsers.limits import ParseLimits
from ingest.parsers.registry import ParserRegistry
from ingest.parsers.sandbox import SandboxedParser


def make_parser(settings: IngestSettings, *, processes: int = 1) -> SandboxedParser:
    """The registry of every format, run in `processes` sandboxed processes under the configured limits.

    Call `close()` on the result at shutdown (the processes also end with this one).
    """
    limits = ParseLimits.from_settings(settings)
    return SandboxedParser(
        partial(ParserRegistry, limits.max_bytes, limits),
        timeout_s=settings.parse_timeout_s,
        memory_mb=settings.parse_memory_mb,
        processes=processes,
    )
