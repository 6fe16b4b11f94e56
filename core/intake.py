"""Taking a file in: keep a copy under its SHA-256, register it as a document version, and
queue what the registration needs. This is the one recipe the API, the CLI and the connectors
follow.

Only files and SQL are touched (the queue is a port), so any process can take files in while
the workers own the vector index.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from core.acl import Acl
from core.documents import DocumentRegistry, Registration
from core.ports import WorkQueue


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Intake:
    """Stores files by content hash, registers them and queues their processing."""

    def __init__(self, registry: DocumentRegistry, files_dir: Path) -> None:
        self._registry = registry
        self._files_dir = files_dir

    def submit(
        self,
        path: Path,
        *,
        namespace: str,
        source: str,
        acl: Acl,
        title: str | None = None,
        filename: str | None = None,
        uploaded_by: str | None = None,
        queue: WorkQueue | None = None,
    ) -> Registration:
        """Register `path`'s content as the newest version of the document at `source` within
        `namespace` (the writer's: see `DocumentRegistry.register`).

        With a `queue`, the new version is queued for processing and a changed ACL for the
        stored points; without one (a process that does not own the queue), the reconciler of
        the process that does finds them in the registry.
        """
        digest = sha256_of(path)
        stored = self._files_dir / digest[:2] / digest
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(".part")
            shutil.copyfile(path, partial)
            partial.replace(stored)
        name = filename or path.name
        registration = self._registry.register(
            namespace=namespace,
            source=source,
            filename=name,
            title=title or Path(name).stem,
            acl=acl,
            sha256=digest,
            size_bytes=stored.stat().st_size,
            stored_path=str(stored),
            uploaded_by=uploaded_by,
        )
        if queue is not None and registration.needs_processing:
            queue.ingest(registration.document_id, registration.version)
        if queue is not None and registration.acl_changed:
            queue.apply_acl(registration.document_id)
        return registration
