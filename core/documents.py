"""The document registry in SQL: the source of truth for documents, versions, ACLs and status.

Status moves by compare-and-set so that a task delivered twice cannot process a version twice:
`queued → processing → indexed | failed`; a version replaced by newer content before it was
indexed becomes `superseded`. Readers see `current_version` only; it switches in one commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from core.acl import Acl, Principal, readable_in_sql
from core.db.models import Document, DocumentAclToken, DocumentVersion, utcnow
from core.document_list import DEFAULT_LIMIT, DocumentFilter, DocumentPage, latest_versions, list_page
from core.errors import Conflict, NotFound
from core.types import DocumentStatus

DOCUMENT_NAMESPACE = uuid.UUID("0b5e7c8e-2f1a-4d3b-8c6d-5111a0c0ffee")
CONNECTOR_NAMESPACE = "connector"  # folders, intranet sites and `sillok ingest`: the operator's


def upload_namespace(user_id: str) -> str:
    """The namespace of one user's uploads: nobody else can name a document inside it."""
    return f"user:{user_id}"


def document_id_for(namespace: str, source: str) -> str:
    """The id a new document gets when `source` (a path, URL or upload key) is first registered
    in `namespace`; the same source in another namespace is another document."""
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, f"{namespace}\n{source}"))


def acl_of(record: Document | DocumentVersion) -> Acl:
    """The ACL stored with a document (who may read it now) or with a version (who will when
    that version becomes current)."""
    return Acl(frozenset(record.acl_users), frozenset(record.acl_groups), record.acl_public)


def _store_acl(record: Document | DocumentVersion, acl: Acl) -> None:
    """Store `acl` on a document or version; a document's token rows (what SQL filters) follow."""
    record.acl_users, record.acl_groups, record.acl_public = sorted(acl.users), sorted(acl.groups), acl.public
    if isinstance(record, Document):
        record.created_at = record.created_at or utcnow()  # a new document's, before its insert
        wanted = acl.tokens()
        kept = [row for row in record.acl_tokens if row.token in wanted]
        added = sorted(wanted - {row.token for row in kept})
        new = [DocumentAclToken(token=token, created_at=record.created_at) for token in added]
        record.acl_tokens = kept + new


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

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A transaction that commits on success; a row another transaction deleted after this
        one read it (a document deleted while its worker moves it on) is reported as missing."""
        try:
            with self._sessions.begin() as session:
                yield session
        except StaleDataError as exc:
            raise NotFound("document not found") from exc

    def register(
        self,
        *,
        namespace: str,
        source: str,
        filename: str,
        title: str,
        acl: Acl,
        sha256: str,
        size_bytes: int,
        stored_path: str,
        uploaded_by: str | None,
    ) -> Registration:
        """Record a file's content as the newest version of the document at `source` within
        `namespace` (idempotent). Callers choose the namespace from who is writing, so a writer
        can only ever reach its own documents.

        `acl` goes with the content: it becomes the document's when this version becomes
        current (at once when the content is already current, or nothing is), so a new version
        that fails never changes who may read the current one. Content identical to the newest
        version is not processed again; in particular a version that failed is not retried, so a
        poison file cannot loop through a scheduled sync.
        """
        with self._writing() as session:
            doc = session.scalar(
                select(Document)
                .where(Document.namespace == namespace, Document.source == source)
                .with_for_update()
            )
            if doc is None:
                doc = Document(
                    id=document_id_for(namespace, source),
                    namespace=namespace,
                    source=source,
                    filename=filename,
                    title=title,
                    status=DocumentStatus.QUEUED.value,
                    uploaded_by=uploaded_by,
                    acl_revision=0,
                )
                _store_acl(doc, acl)
                session.add(doc)
            document_id = doc.id
            acl_changed = False
            if doc.current_version in (None, sha256) and acl_of(doc) != acl:
                _store_acl(doc, acl)
                doc.acl_revision += 1
                acl_changed = doc.current_version is not None
            if doc.latest_version == sha256:
                latest = self._find(session, document_id, sha256)
                if latest is not None:
                    _store_acl(latest, acl)
                return Registration(document_id, sha256, False, acl_changed)
            session.execute(
                update(DocumentVersion)
                .where(
                    DocumentVersion.document_id == document_id,
                    DocumentVersion.status == DocumentStatus.QUEUED.value,
                )
                .values(status=DocumentStatus.SUPERSEDED.value)
            )
            version = self._find(session, document_id, sha256)
            if version is None:
                version = DocumentVersion(document_id=document_id, sha256=sha256)
                session.add(version)
            version.size_bytes, version.stored_path = size_bytes, stored_path
            version.status, version.error_code, version.error = DocumentStatus.QUEUED.value, None, None
            version.attempts, version.chunks_done, version.enqueued_at = 0, 0, None
            _store_acl(version, acl)
            doc.filename, doc.title, doc.latest_version = filename, title, sha256
            doc.status, doc.error_code, doc.error = DocumentStatus.QUEUED.value, None, None
            return Registration(document_id, sha256, True, acl_changed)

    def find(self, namespace: str, source: str) -> Document | None:
        """The document registered from `source` within `namespace`, if any."""
        with self._sessions() as session:
            return session.scalar(
                select(Document).where(Document.namespace == namespace, Document.source == source)
            )

    def mark_enqueued(self, document_id: str, version: str) -> None:
        """Remember when a version was last sent to the queue."""
        with self._writing() as session:
            session.execute(
                update(DocumentVersion)
                .where(DocumentVersion.document_id == document_id, DocumentVersion.sha256 == version)
                .values(enqueued_at=datetime.now(UTC))
            )

    def start(
        self, document_id: str, version: str, stale_after: timedelta | None = None, max_attempts: int = 3
    ) -> bool:
        """Move a version from `queued` (or a stale `processing`) to `processing`; False if not ours.

        A version whose processing was interrupted `max_attempts` times fails instead, so a file
        that kills its worker cannot loop forever.
        """
        now = datetime.now(UTC)
        allowed = [DocumentVersion.status == DocumentStatus.QUEUED.value]
        if stale_after is not None:
            allowed.append(
                (DocumentVersion.status == DocumentStatus.PROCESSING.value)
                & (DocumentVersion.started_at < now - stale_after)
            )
        with self._writing() as session:
            ver = session.scalar(
                select(DocumentVersion)
                .where(
                    DocumentVersion.document_id == document_id,
                    DocumentVersion.sha256 == version,
                    or_(*allowed),
                )
                .with_for_update()
            )
            if ver is None:
                return False
            if ver.attempts >= max_attempts:
                self._fail(
                    ver,
                    "interrupted",
                    f"processing was interrupted {ver.attempts} times; the file may crash the reader",
                )
                return False
            result = session.execute(
                update(DocumentVersion)
                .where(DocumentVersion.id == ver.id, DocumentVersion.attempts == ver.attempts)
                .values(
                    status=DocumentStatus.PROCESSING.value,
                    started_at=now,
                    attempts=ver.attempts + 1,
                    chunks_done=0,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.execute(
                update(Document)
                .where(Document.id == document_id, Document.latest_version == version)
                .values(status=DocumentStatus.PROCESSING.value)
            )
            return True

    def progress(self, document_id: str, version: str, done: int, total: int) -> None:
        """Record how many chunks of a running version are embedded and stored (the document
        counts as updated, so clients watching `updated_since` see the progress)."""
        with self._writing() as session:
            session.execute(
                update(DocumentVersion)
                .where(DocumentVersion.document_id == document_id, DocumentVersion.sha256 == version)
                .values(chunks_done=done, chunk_count=total)
            )
            session.execute(
                update(Document)
                .where(Document.id == document_id, Document.latest_version == version)
                .values(updated_at=datetime.now(UTC))
            )

    def retry(self, document_id: str) -> str:
        """Queue a failed document's newest version again, as if it had just been registered;
        its version. Conflict when the document has not failed."""
        with self._writing() as session:
            doc = session.get(Document, document_id, with_for_update=True)
            if doc is None:
                raise NotFound("document not found")
            ver = self._find(session, document_id, doc.latest_version) if doc.latest_version else None
            failed = DocumentStatus.FAILED.value
            if ver is None or doc.status != failed or ver.status != failed:
                raise Conflict("only a failed document can be retried")
            ver.status, ver.error_code, ver.error = DocumentStatus.QUEUED.value, None, None
            ver.attempts, ver.chunks_done, ver.enqueued_at = 0, 0, None
            ver.started_at = ver.finished_at = None
            doc.status, doc.error_code, doc.error = DocumentStatus.QUEUED.value, None, None
            return ver.sha256

    def requeue(self, document_id: str, version: str) -> None:
        """Give a running version back to the queue after a transient failure."""
        with self._writing() as session:
            session.execute(
                update(DocumentVersion)
                .where(
                    DocumentVersion.document_id == document_id,
                    DocumentVersion.sha256 == version,
                    DocumentVersion.status == DocumentStatus.PROCESSING.value,
                )
                .values(status=DocumentStatus.QUEUED.value, attempts=DocumentVersion.attempts - 1)
            )

    def finish(self, document_id: str, version: str, chunk_count: int) -> bool:
        """Make an indexed version the one readers see; False if newer content superseded it."""
        with self._writing() as session:
            doc = session.get(Document, document_id, with_for_update=True)
            ver = self._find(session, document_id, version) if doc is not None else None
            if doc is None or ver is None:
                return False
            now = datetime.now(UTC)
            ver.chunk_count, ver.chunks_done, ver.finished_at = chunk_count, chunk_count, now
            if doc.latest_version != version:
                ver.status = DocumentStatus.SUPERSEDED.value
                return False
            ver.status = DocumentStatus.INDEXED.value
            if acl_of(ver) != acl_of(doc):  # the ACL registered with this content takes effect now
                _store_acl(doc, acl_of(ver))
                doc.acl_revision += 1
            doc.current_version, doc.chunk_count = version, chunk_count
            doc.status, doc.error_code, doc.error = DocumentStatus.INDEXED.value, None, None
            return True

    def fail(self, document_id: str, version: str, code: str, reason: str) -> None:
        """Mark a version failed with a reason a person understands."""
        with self._writing() as session:
            ver = self._find(session, document_id, version)
            if ver is not None:
                self._fail(ver, code, reason)

    @staticmethod
    def _fail(ver: DocumentVersion, code: str, reason: str) -> None:
        ver.status, ver.error_code, ver.error = DocumentStatus.FAILED.value, code, reason
        ver.finished_at = datetime.now(UTC)
        doc = ver.document
        if doc.latest_version == ver.sha256:
            doc.status, doc.error_code, doc.error = DocumentStatus.FAILED.value, code, reason

    def pending(self, requeue_after: timedelta, stale_after: timedelta) -> list[tuple[str, str]]:
        """Versions to send to the queue again: never sent, sent long ago, or stuck processing."""
        now = datetime.now(UTC)
        queued = (DocumentVersion.status == DocumentStatus.QUEUED.value) & (
            DocumentVersion.enqueued_at.is_(None) | (DocumentVersion.enqueued_at < now - requeue_after)
        )
        stuck = (DocumentVersion.status == DocumentStatus.PROCESSING.value) & (
            DocumentVersion.started_at < now - stale_after
        )
        with self._sessions() as session:
            rows = session.execute(
                select(DocumentVersion.document_id, DocumentVersion.sha256)
                .where(or_(queued, stuck))
                .order_by(DocumentVersion.created_at)
            ).all()
        return [(row[0], row[1]) for row in rows]

    def live_versions(self) -> dict[str, set[str]]:
        """For each document, the versions whose points may exist: current and in flight."""
        in_flight = (DocumentStatus.QUEUED.value, DocumentStatus.PROCESSING.value)
        live: dict[str, set[str]] = {}
        with self._sessions() as session:
            for doc_id, current in session.execute(select(Document.id, Document.current_version)):
                live[doc_id] = {current} if current else set()
            for doc_id, sha in session.execute(
                select(DocumentVersion.document_id, DocumentVersion.sha256).where(
                    DocumentVersion.status.in_(in_flight)
                )
            ):
                live.setdefault(doc_id, set()).add(sha)
        return live

    def readable_versions(self, principal: Principal, document_ids: Collection[str]) -> dict[str, str]:
        """Among `document_ids`, those the principal may read now, with their current version."""
        if not document_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(Document.id, Document.current_version).where(
                    Document.id.in_(set(document_ids)),
                    Document.current_version.is_not(None),
                    readable_in_sql(principal, Document.id),
                )
            )
            return {doc_id: current for doc_id, current in rows if current}

    def status_counts(self) -> dict[str, int]:
        """How many document versions are in each state."""
        with self._sessions() as session:
            rows = session.execute(
                select(DocumentVersion.status, func.count()).group_by(DocumentVersion.status)
            ).all()
        return {status: count for status, count in rows}

    def sources(self, namespace: str, prefix: str) -> set[str]:
        """Sources of the documents registered within `namespace` that start with `prefix`."""
        with self._sessions() as session:
            query = select(Document.source).where(
                Document.namespace == namespace, Document.source.startswith(prefix, autoescape=True)
            )
            return set(session.scalars(query))

    def version(self, document_id: str, version: str) -> DocumentVersion:
        """One version (with its document loaded)."""
        with self._sessions() as session:
            ver = self._find(session, document_id, version)
            if ver is None:
                raise NotFound("document version not found")
            _ = ver.document
            return ver

    def latest_versions(self, document_ids: Collection[str]) -> dict[str, DocumentVersion]:
        """The newest registered version of each of these documents, in one query."""
        if not document_ids:
            return {}
        with self._sessions() as session:
            return latest_versions(session, sorted(set(document_ids)))

    def latest(self, document_id: str) -> DocumentVersion | None:
        """The newest registered version of a document."""
        with self._sessions() as session:
            doc = session.get(Document, document_id)
            if doc is None or doc.latest_version is None:
                return None
            return self._find(session, document_id, doc.latest_version)

    def get(self, document_id: str) -> Document:
        """A document by id, regardless of who asks (callers check the ACL)."""
        with self._sessions() as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise NotFound("document not found")
            return doc

    def readable(self, principal: Principal, document_id: str) -> Document:
        """A document the principal may read; a forbidden one is reported exactly as a missing one."""
        with self._sessions() as session:
            doc = session.scalar(
                select(Document).where(Document.id == document_id, readable_in_sql(principal, Document.id))
            )
        if doc is None:
            raise NotFound("document not found")
        return doc

    def list_readable(self, principal: Principal) -> Sequence[Document]:
        """Every document the principal may read, newest first (see `page` for lists that grow)."""
        query = select(Document).where(readable_in_sql(principal, Document.id))
        with self._sessions() as session:
            return session.scalars(query.order_by(Document.created_at.desc(), Document.id.desc())).all()

    def page(
        self,
        principal: Principal,
        chosen: DocumentFilter | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> DocumentPage:
        """One page of the documents the principal may read that `chosen` selects, newest
        first, after `cursor` (see `core.document_list`)."""
        with self._sessions() as session:
            return list_page(session, principal, chosen or DocumentFilter(), limit, cursor)

    def set_acl(self, document_id: str, acl: Acl) -> None:
        """Replace a document's ACL, and that of its versions in flight (so that one becoming
        current later does not undo the change); the stored points follow (see `acl_pending`)."""
        in_flight = (DocumentStatus.QUEUED.value, DocumentStatus.PROCESSING.value)
        with self._writing() as session:
            doc = session.get(Document, document_id, with_for_update=True)
            if doc is None:
                raise NotFound("document not found")
            _store_acl(doc, acl)
            doc.acl_revision += 1
            for ver in doc.versions:
                if ver.status in in_flight:
                    _store_acl(ver, acl)

    def acl_applied(self, document_id: str, revision: int) -> None:
        """Record that the stored points carry the ACL of `revision`."""
        with self._writing() as session:
            session.execute(
                update(Document)
                .where(Document.id == document_id, Document.acl_applied < revision)
                .values(acl_applied=revision)
            )

    def acl_pending(self) -> list[str]:
        """Documents whose stored points do not carry their newest ACL yet."""
        with self._sessions() as session:
            return list(
                session.scalars(select(Document.id).where(Document.acl_applied < Document.acl_revision))
            )

    def delete(self, document_id: str) -> None:
        """Remove a document and its versions from the registry."""
        with self._writing() as session:
            doc = session.get(Document, document_id)
            if doc is not None:
                session.delete(doc)

    @staticmethod
    def _find(session: Session, document_id: str, version: str) -> DocumentVersion | None:
        return session.scalar(
            select(DocumentVersion).where(
                DocumentVersion.document_id == document_id, DocumentVersion.sha256 == version
            )
        )
