"""The port every connector writes to: register files, forget sources, list what is known."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.acl import Acl
from core.documents import Registration


class DocumentSink(Protocol):
    """Where connectors send documents: the ingestion pipeline, its registry and its queue."""

    def submit(
        self,
        path: Path,
        *,
        source: str,
        acl: Acl,
        title: str | None = None,
        filename: str | None = None,
    ) -> Registration:
        """Register the file's content as a version of the document at `source` (idempotent)."""
        ...

    def remove(self, source: str) -> None:
        """Delete the document registered from `source` from the registry and the index; no-op if absent."""
        ...

    def sources(self, prefix: str) -> set[str]:
        """The sources of every registered document that start with `prefix`."""
        ...
