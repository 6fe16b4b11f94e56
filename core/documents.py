"""The document registry in SQL: the source of truth for documents, versions, ACLs and status.

Status moves by compare-and-set so that a task delivered twice cannot process a version twice:
`queued → processing → indexed | failed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.acl import Acl, Principal
from core.db.models import Document, DocumentVersion
from core.errors import NotFound
from core.types import DocumentStatus

DOCUMENT_NAMESPACE = uuid.UUID("0b5e7c8e-2f1a-4d3b-8c6d-5111a0c0ffee")


def document_id_for(source: str) -> str:
    """The stable id of the document registered from `source` (a path, URL or upload key)."""
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, source))


def acl_of(document: Document) -> Acl:
    """The ACL stored with a document."""
    return Acl(frozenset(document.acl_users), frozenset(document.acl_groups), document.acl_public)


@dataclass(frozen=True)
class Registration:
    """The outcome of registering a file: which version, and whether it must be processed."""

    document_id: str
    version: str
    needs_processing: bool
    acl_changed: bool


class DocumentRegistry:
    """SQL operations on documents and versions; every method runs in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def register(
        self,
        *,
        source: str,
        filename: str,
        title: str,
        acl: Acl,
        sha256: str,
        size_bytes: int,
        stored_path: str,
        uploaded_by: str | None,
    ) -> Registration:
        """Record a file's content as a version of the document at `source` (idempotent).

        Identical content of an indexed or pending version changes nothing but the ACL.
        """
        document_id = document_id_for(source)
        with self._sessions.begin() as session:
            doc = session.get(Document, document_id, with_for_update=True)
            acl_changed = doc is not None and doc.current_version is not None and acl_of(doc) != acl
            if doc is None:
                doc = Document(
                    id=document_id,
                    source=source,
                    filename=filename,
                    title=title,
                    status=DocumentStatus.QUEUED.value,
                    uploaded_by=uploaded_by,
                )
                session.add(doc)
            doc.acl_users, doc.acl_groups, doc.acl_public = sorted(acl.users), sorted(acl.groups), acl.public
            version = session.scalar(
                select(DocumentVersion).where(
                    DocumentVersion.document_id == document_id, DocumentVersion.sha256 == sha256
                )
            )
            if version is not None and version.status != DocumentStatus.FAILED.value:
                return Registration(document_id, sha256, False, acl_changed)
            if version is None:
                version = DocumentVersion(
                    document_id=document_id,
                    sha256=sha256,
                    size_bytes=size_bytes,
                    stored_path=stored_path,
                    status=DocumentStatus.QUEUED.value,
                )
                session.add(version)
            version.status = DocumentStatus.QUEUED.value
            version.error_code = version.error = None
            doc.filename, doc.title = filename, title
            doc.status = DocumentStatus.QUEUED.value
            doc.error_code = doc.error = None
            return Registration(document_id, sha256, True, acl_changed)

    def start(self, document_id: str, version: str, stale_after: timedelta | None = None) -> bool:
        """Move a version from `queued` (or a stale `processing`) to `processing`; False if not ours."""
        now = datetime.now(UTC)
        allowed = [DocumentVersion.status == DocumentStatus.QUEUED.value]
        if stale_after is not None:
            allowed.append(
                (DocumentVersion.status == DocumentStatus.PROCESSING.value)
                & (DocumentVersion.started_at < now - stale_after)
            )
        with self._sessions.begin() as session:
            result = session.execute(
                update(DocumentVersion)
                .where(
                    DocumentVersion.document_id == document_id,
                    DocumentVersion.sha256 == version,
                    or_(*allowed),
                )
                .values(status=DocumentStatus.PROCESSING.value, started_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(status=DocumentStatus.PROCESSING.value)
            )
            return True

    def finish(self, document_id: str, version: str, chunk_count: int) -> None:
        """Mark a version indexed and make it the document's current version."""
        with self._sessions.begin() as session:
            ver = self._version(session, document_id, version)
            ver.status, ver.chunk_count, ver.finished_at = (
                DocumentStatus.INDEXED.value,
                chunk_count,
                datetime.now(UTC),
            )
            doc = ver.document
            doc.current_version, doc.chunk_count = version, chunk_count
            doc.status, doc.error_code, doc.error = DocumentStatus.INDEXED.value, None, None

    def fail(self, document_id: str, version: str, code: str, reason: str) -> None:
        """Mark a version failed with a reason a person understands."""
        with self._sessions.begin() as session:
            ver = self._version(session, document_id, version)
            ver.status, ver.error_code, ver.error = DocumentStatus.FAILED.value, code, reason
            ver.finished_at = datetime.now(UTC)
            doc = ver.document
            doc.status, doc.error_code, doc.error = DocumentStatus.FAILED.value, code, reason

    def version(self, document_id: str, version: str) -> DocumentVersion:
        """One version (with its document loaded)."""
        with self._sessions() as session:
            ver = self._version(session, document_id, version)
            _ = ver.document
            return ver

    def get(self, document_id: str) -> Document:
        """A document by id, regardless of who asks (callers check the ACL)."""
        with self._sessions() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise NotFound("document not found")
            return doc

    def readable(self, principal: Principal, document_id: str) -> Document:
        """A document the principal may read; a forbidden one is reported exactly as a missing one."""
        doc = self.get(document_id)
        if not principal.can_read(acl_of(doc).tokens()):
            raise NotFound("document not found")
        return doc

    def list_readable(self, principal: Principal) -> Sequence[Document]:
        """Every document the principal may read, newest first."""
        with self._sessions() as session:
            docs = session.scalars(select(Document).order_by(Document.created_at.desc())).all()
        return [d for d in docs if principal.can_read(acl_of(d).tokens())]

    def set_acl(self, document_id: str, acl: Acl) -> None:
        """Replace a document's ACL."""
        with self._sessions.begin() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise NotFound("document not found")
            doc.acl_users, doc.acl_groups, doc.acl_public = sorted(acl.users), sorted(acl.groups), acl.public

    def delete(self, document_id: str) -> None:
        """Remove a document and its versions from the registry."""
        with self._sessions.begin() as session:
            doc = session.get(Document, document_id)
            if doc is not None:
                session.delete(doc)

    @staticmethod
    def _version(session: Session, document_id: str, version: str) -> DocumentVersion:
        ver = session.scalar(
            select(DocumentVersion).where(
                DocumentVersion.document_id == document_id, DocumentVersion.sha256 == version
            )
        )
        if ver is None:
            raise NotFound("document version not found")
        return ver
