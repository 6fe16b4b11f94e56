"""One page of the document list: what a principal may read, newest first, filtered in SQL.

Pages follow a keyset, (created_at, id) descending, carried by an opaque cursor: a page never
depends on how many documents came before it, a document registered while someone pages
appears on nobody's next page twice, and a document that changes does not move. The cursor
names only a document the caller was shown. `updated_since` selects what changed since a
moment, so a client can follow progress without reading the whole list again; the moment to
ask with next is in each page (`next_updated_since`), a little before the query ran, because a
change committed while the query ran may carry an earlier time.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, exists, select, tuple_
from sqlalchemy.orm import Session

from core.acl import Principal, group_token, readable_in_sql, valid_name
from core.db.models import Document, DocumentAclToken
from core.errors import InvalidInput
from core.types import DocumentStatus

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_QUERY = 300  # a title has at most 300 characters, so a longer search finds nothing
WATCH_OVERLAP = timedelta(seconds=5)  # longer than any registry transaction takes to commit
LISTED_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PROCESSING,
    DocumentStatus.INDEXED,
    DocumentStatus.FAILED,
)


@dataclass(frozen=True)
class DocumentFilter:
    """Which documents to list (every field narrows; the ACL always applies).

    `text` is a case-insensitive substring of the title; `group` keeps documents whose ACL
    names that group; `every_document` is an admin's request for all documents, readable or not.
    """

    text: str = ""
    status: DocumentStatus | None = None
    group: str | None = None
    updated_since: datetime | None = None
    every_document: bool = False

    def __post_init__(self) -> None:
        if len(self.text) > MAX_QUERY:
            raise InvalidInput(f"q may have at most {MAX_QUERY} characters")
        if self.status is not None and self.status not in LISTED_STATUSES:
            raise InvalidInput(f"status is one of {', '.join(LISTED_STATUSES)}")
        if self.group is not None and not valid_name(self.group):
            raise InvalidInput("group is not a valid group name")


@dataclass(frozen=True)
class DocumentPage:
    """Documents of one page, the cursor of the next (None on the last) and the moment to pass
    as `updated_since` to see what changes from now on."""

    documents: list[Document]
    next_cursor: str | None
    next_updated_since: datetime


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encode_cursor(doc: Document) -> str:
    """The opaque cursor of the page after `doc`."""
    raw = json.dumps([_utc(doc.created_at).isoformat(), doc.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position a cursor names; InvalidInput for anything this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, doc_id = json.loads(raw)
        if not isinstance(doc_id, str) or not isinstance(created, str):
            raise ValueError(cursor)
        return _utc(datetime.fromisoformat(created)), doc_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server gave out") from exc


def _query(principal: Principal, chosen: DocumentFilter) -> Select[Document]:
    query = select(Document).where(readable_in_sql(principal, Document.id, chosen.every_document))
    if chosen.text:
        query = query.where(Document.title.icontains(chosen.text, autoescape=True))
    if chosen.status is not None:
        query = query.where(Document.status == chosen.status.value)
    if chosen.group is not None:
        query = query.where(
            exists().where(
                DocumentAclToken.document_id == Document.id,
                DocumentAclToken.token == group_token(chosen.group),
            )
        )
    if chosen.updated_since is not None:
        query = query.where(Document.updated_at >= _utc(chosen.updated_since))
    return query


def list_page(
    session: Session,
    principal: Principal,
    chosen: DocumentFilter,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DocumentPage:
    """Up to `limit` documents after `cursor` that `principal` may read and `chosen` selects."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is between 1 and {MAX_LIMIT}")
    started = datetime.now(UTC)
    query = _query(principal, chosen)
    if cursor:
        created, doc_id = decode_cursor(cursor)
        query = query.where(tuple_(Document.created_at, Document.id) < tuple_(created, doc_id))
    query = query.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit + 1)
    docs = list(session.scalars(query))
    more = len(docs) > limit
    docs = docs[:limit]
    return DocumentPage(docs, encode_cursor(docs[-1]) if more else None, started - WATCH_OVERLAP)
