"""Taking a file in: keep a copy under its SHA-256 and register it as a document version.

Only files and SQL are touched, so any process (the API, the CLI, a connector) can take files
in while the workers own the vector index.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from core.acl import Acl
from core.documents import DocumentRegistry, Registration


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Intake:
    """Stores files by content hash and registers them; the caller queues the processing."""

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
    ) -> Registration:
        """Register `path`'s content as the newest version of the document at `source` within
        `namespace` (the writer's: see `DocumentRegistry.register`).

        When the registration says `needs_processing`, queue the version; when it says
        `acl_changed`, queue the ACL update of the stored points.
        """
        digest = sha256_of(path)
        stored = self._files_dir / digest[:2] / digest
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(".part")
            shutil.copyfile(path, partial)
            partial.replace(stored)
        name = filename or path.name
        return self._registry.register(
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
