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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, Subquery, exists, select, tuple_, union
from sqlalchemy.orm import Session, aliased

from core.acl import Principal, group_token, readable_in_sql, readable_token_rows, valid_name
from core.cursor import decode as cursor_key
from core.cursor import encode as cursor_of
from core.db.models import Document, DocumentAclToken, DocumentVersion
from core.errors import InvalidInput
from core.types import DocumentStatus

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_QUERY = 300  # a title has at most 300 characters, so a longer search finds nothing
WATCH_OVERLAP = timedelta(seconds=5)  # longer than any registry transaction takes to commit
# Up to this many tokens (the user, `public` and six groups) a page is merged from each token's
# own index range; a principal holding more reads a large share of the registry, and the
# documents' keyset index, checked document by document, finds a page sooner.
MERGE_MAX_TOKENS = 8
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
    """Documents of one page with their newest versions, the cursor of the next page (None on
    the last) and the moment to pass as `updated_since` to see what changes from now on."""

    documents: list[Document]
    latest: dict[str, DocumentVersion]
    next_cursor: str | None
    next_updated_since: datetime


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encode_cursor(doc: Document) -> str:
    """The opaque cursor of the page after `doc`."""
    return cursor_of(_utc(doc.created_at).isoformat(), doc.id)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position a cursor names; InvalidInput for anything this module did not write."""
    created, doc_id = cursor_key(cursor, str, str)
    try:
        return _utc(datetime.fromisoformat(str(created))), str(doc_id)
    except ValueError as exc:
        raise InvalidInput("cursor is not one this server gave out") from exc


def _narrowing(chosen: DocumentFilter, by_group: bool = True) -> list[ColumnElement[bool]]:
    """Conditions on `documents` for the filters other than the ACL (without the group's when
    `by_group` is false: the caller reads that group's rows alone)."""
    conditions: list[ColumnElement[bool]] = []
    if chosen.text:
        conditions.append(Document.title.icontains(chosen.text, autoescape=True))
    if chosen.status is not None:
        conditions.append(Document.status == chosen.status.value)
    if chosen.group is not None and by_group:
        granted = aliased(DocumentAclToken)
        conditions.append(
            exists().where(granted.document_id == Document.id, granted.token == group_token(chosen.group))
        )
    if chosen.updated_since is not None:
        conditions.append(Document.updated_at >= _utc(chosen.updated_since))
    return conditions


def _before(
    created: SQLColumnExpression[datetime], doc_id: SQLColumnExpression[str], cursor: str | None
) -> list[ColumnElement[bool]]:
    """The keyset condition: strictly after the cursor's document, newest first."""
    if not cursor:
        return []
    at, last = decode_cursor(cursor)
    return [tuple_(created, doc_id) < tuple_(at, last)]


def _readable_ids(
    token_rows: list[ColumnElement[bool]], narrowing: list[ColumnElement[bool]], cursor: str | None, rows: int
) -> Subquery:
    """Ids of up to `rows` documents after `cursor`, newest first, that have a token row
    meeting one of `token_rows` and meet `narrowing`, read token by token: each token gives
    its own newest `rows` (an index range), and the union of those holds the newest `rows` of
    all, whatever share of the registry the principal may read and wherever in time its
    documents lie."""
    branches = []
    for held in token_rows:
        branch = select(DocumentAclToken.document_id.label("id")).where(
            held, *_before(DocumentAclToken.created_at, DocumentAclToken.document_id, cursor)
        )
        if narrowing:
            branch = branch.join(Document, Document.id == DocumentAclToken.document_id).where(*narrowing)
        branch = branch.order_by(DocumentAclToken.created_at.desc(), DocumentAclToken.document_id.desc())
        branches.append(select(branch.limit(rows).subquery()))  # a subquery each: SQLite's rule for LIMIT
    return union(*branches).subquery()


def list_page(
    session: Session,
    principal: Principal,
    chosen: DocumentFilter,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DocumentPage:
    """Up to `limit` documents after `cursor` that `principal` may read and `chosen` selects.

    An admin's `every_document` reads the documents' own keyset index. A watch
    (`updated_since`) reads the few documents changed since then and checks each one's tokens,
    and so does the list of a principal with many tokens (see `MERGE_MAX_TOKENS`). Any other
    list merges the principal's tokens' index ranges (`_readable_ids`), or reads only the
    group's when it filters by a group the principal belongs to.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is between 1 and {MAX_LIMIT}")
    started = datetime.now(UTC)
    query = select(Document)
    shared = group_token(chosen.group) if chosen.group is not None else None
    if chosen.every_document or chosen.updated_since is not None:
        acl = readable_in_sql(principal, Document.id, chosen.every_document)
        query = query.where(acl, *_narrowing(chosen), *_before(Document.created_at, Document.id, cursor))
    elif shared is not None and principal.can_read([shared]):
        # a group of the principal's: every document shared with it is readable, so its rows suffice
        ids = _readable_ids([DocumentAclToken.token == shared], _narrowing(chosen, False), cursor, limit + 1)
        query = query.join(ids, Document.id == ids.c.id)
    elif len(principal.tokens()) > MERGE_MAX_TOKENS:
        acl = readable_in_sql(principal, Document.id)
        query = query.where(acl, *_narrowing(chosen), *_before(Document.created_at, Document.id, cursor))
    else:
        ids = _readable_ids(readable_token_rows(principal), _narrowing(chosen), cursor, limit + 1)
        query = query.join(ids, Document.id == ids.c.id)
    query = query.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit + 1)
    docs = list(session.scalars(query))
    more = len(docs) > limit
    docs = docs[:limit]
    latest = latest_versions(session, [doc.id for doc in docs])
    return DocumentPage(docs, latest, encode_cursor(docs[-1]) if more else None, started - WATCH_OVERLAP)


def latest_versions(session: Session, document_ids: list[str]) -> dict[str, DocumentVersion]:
    """The newest registered version of each of these documents, in one query."""
    if not document_ids:
        return {}
    newest = (DocumentVersion.document_id == Document.id) & (
        DocumentVersion.sha256 == Document.latest_version
    )
    query = select(DocumentVersion).join(Document, newest).where(Document.id.in_(document_ids))
    return {ver.document_id: ver for ver in session.scalars(query)}
