"""Document routes: upload, the paginated list, status and progress, original file, ACL,
retry and deletion.

Every route goes through the registry's ACL check; a document the caller may not read is a
404 exactly like a missing one. Changing, retrying or deleting needs the uploader or an admin.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from core.acl import Acl, Principal, explain
from core.audit import Shown
from core.db.models import Document, DocumentVersion, iso
from core.document_list import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY, DocumentFilter
from core.documents import acl_of, upload_namespace
from core.errors import Forbidden, InvalidInput, NotFound
from core.idempotency import fingerprint, valid_key
from core.types import DocumentStatus, chunk_position
from serving.api.bootstrap import ApiServices
from serving.api.deps import ContainerDep, CurrentPrincipal
from serving.api.responses import (
    CONTENT,
    FOUND,
    FOUND_WITH_BODY,
    RETRY,
    UPLOAD,
    WITH_INPUT,
    Accepted,
    AclChanged,
    DocumentPage,
    DocumentView,
    Why,
)
from serving.api.schemas import AclBody, ListedStatus, ListScope
from serving.api.scopes import Scope

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])
_COPY_BLOCK = 1 << 20
_IDEMPOTENCY = (
    "Any 1-255 visible ASCII characters; a retry with the same key and the same request gets the "
    "first answer, the same key with another request 409. Keys last a day."
)
MAX_TITLE, MAX_FILENAME, MAX_SOURCE = 300, 255, 2048


def _limited(field: str, value: str, limit: int) -> str:
    """`value` if it fits the field's limit; InvalidInput otherwise (multipart fields have no schema)."""
    if len(value) > limit:
        raise InvalidInput(f"{field} may have at most {limit} characters")
    return value


def document_views(
    docs: Sequence[Document], container: ApiServices, latest: dict[str, DocumentVersion] | None = None
) -> list[dict[str, Any]]:
    """Documents as the API shows them, with the progress of their newest versions (`latest`,
    or read here); user ids in ACLs and uploaders are shown as today's user names (a removed
    user is left out)."""
    ids = {u for d in docs for u in d.acl_users} | {d.uploaded_by for d in docs if d.uploaded_by}
    names = container.users.names_for(ids)
    if latest is None:
        latest = container.documents.latest_versions([d.id for d in docs])
    return [_view(doc, latest.get(doc.id), names) for doc in docs]


def _view(doc: Document, latest: DocumentVersion | None, names: dict[str, str]) -> dict[str, Any]:
    progress = None
    if latest is not None and latest.status in ("queued", "processing"):
        progress = {"chunks_done": latest.chunks_done, "chunks_total": latest.chunk_count or None}
    return {
        "id": doc.id,
        "title": doc.title,
        "filename": doc.filename,
        "status": doc.status,
        "error": doc.error,
        "error_code": doc.error_code,
        "acl": acl_view(acl_of(doc), names),
        "chunks": doc.chunk_count,
        "version": doc.current_version,
        "progress": progress,
        "uploaded_by": names.get(doc.uploaded_by or ""),
        "size_bytes": latest.size_bytes if latest is not None else None,
        "created_at": iso(doc.created_at),
        "updated_at": iso(doc.updated_at),
    }


def acl_view(acl: Acl, names: dict[str, str]) -> dict[str, object]:
    """An ACL in the API's vocabulary: user names instead of ids."""
    return {**acl.as_dict(), "users": sorted(names[u] for u in acl.users if u in names)}


def _requested_acl(raw: object, principal: Principal, container: ApiServices) -> Acl:
    """The ACL of an upload: as given (checked by `_granted`), else the uploader alone."""
    if raw is None or raw == "":
        return Acl.of(users=[principal.user_id])
    try:
        body = AclBody.model_validate(json.loads(str(raw)))
    except ValueError as exc:
        raise InvalidInput('acl must be JSON {"users": [...], "groups": [...], "public": bool}') from exc
    return _granted(body, principal, container)


def _granted(body: AclBody, principal: Principal, container: ApiServices) -> Acl:
    """The ACL `principal` may give: users by name (they must exist), their own groups, and
    everyone only for admins."""
    if body.public and not principal.is_admin:
        raise Forbidden("only an admin can make a document readable by everyone")
    foreign = set(body.groups) - principal.groups
    if foreign and not principal.is_admin:
        raise Forbidden(f"you can only share with your own groups, not {', '.join(sorted(foreign))}")
    named = Acl.of(body.users, body.groups, body.public)  # validates the names
    return Acl.of(container.users.ids_for(named.users).values(), named.groups, named.public)


def _audit_read(container: ApiServices, principal: Principal, doc: Document, action: str) -> None:
    shown = [Shown(doc.id, doc.current_version, None)]
    container.audit.record(principal, action, "rest", {"document_id": doc.id}, shown)


def _owned(container: ApiServices, principal: Principal, document_id: str) -> Document:
    """A document the caller may change: an admin may manage any, others what they uploaded."""
    if principal.is_admin:
        return container.documents.get(document_id)
    doc = container.documents.readable(principal, document_id)
    if not (principal.is_admin or (principal.user_id and doc.uploaded_by == principal.user_id)):
        raise Forbidden("only the uploader or an admin can change this document")
    return doc


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "acl": {
                            "type": "string",
                            "description": 'JSON {"users": [...], "groups": [...], "public": bool}; '
                            "default: the uploader alone; public needs the admin role",
                        },
                        "title": {"type": "string", "maxLength": MAX_TITLE},
                        "source_url": {
                            "type": "string",
                            "maxLength": MAX_SOURCE,
                            "description": "names the document inside the uploader's own namespace; "
                            "uploading under it again makes a new version",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    openapi_extra=_UPLOAD_SCHEMA,
    dependencies=[Scope("documents:write")],
    response_model=Accepted,
    responses=UPLOAD,
)
async def upload(
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", description=_IDEMPOTENCY)] = None,
) -> dict[str, str] | JSONResponse:
    """Store an uploaded file and queue it; 202 once the registry has committed it. A retry with
    the same `Idempotency-Key` gets the first answer (marked `Idempotent-Replayed: true`)."""
    key = valid_key(idempotency_key) if idempotency_key is not None else None
    form = await request.form(max_files=1, max_fields=8)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidInput("send the document as the multipart field 'file'")
    acl = await run_in_threadpool(_requested_acl, form.get("acl"), principal, container)
    filename = _limited("filename", Path(file.filename).name, MAX_FILENAME)
    title = _limited("title", str(form.get("title") or "").strip(), MAX_TITLE) or None
    source = _limited("source_url", str(form.get("source_url") or "").strip(), MAX_SOURCE)
    source = source or f"upload:{filename}"  # named inside the uploader's own namespace
    incoming = container.settings.data_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    partial = incoming / f"{uuid.uuid4()}.part"
    try:
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            while block := await file.read(_COPY_BLOCK):
                out.write(block)
                digest.update(block)
        asked = fingerprint([digest.hexdigest(), filename, title, source, acl.as_dict()])
        if key is not None:
            first = await run_in_threadpool(container.idempotency.replay, principal.user_id, key, asked)
            if first is not None:
                return JSONResponse(first[1], status_code=first[0], headers={"Idempotent-Replayed": "true"})
        registration = await run_in_threadpool(
            container.intake.submit,
            partial,
            namespace=upload_namespace(principal.user_id),
            source=source,
            acl=acl,
            title=title,
            filename=filename,
            uploaded_by=principal.user_id,
            queue=container.queue,
        )
    finally:
        partial.unlink(missing_ok=True)
        await form.close()
    doc = await run_in_threadpool(container.documents.get, registration.document_id)
    detail = {
        "document_id": doc.id,
        "version": registration.version,
        "filename": filename,
        "acl": acl.as_dict(),
        "source": source,
    }
    await run_in_threadpool(container.audit.record, principal, "document.upload", "rest", detail)
    answer = {"id": doc.id, "status": doc.status, "version": registration.version}
    if key is not None:
        await run_in_threadpool(container.idempotency.remember, principal.user_id, key, asked, 202, answer)
    return answer


@router.get("", dependencies=[Scope("documents:read")], response_model=DocumentPage, responses=WITH_INPUT)
def list_documents(
    principal: CurrentPrincipal,
    container: ContainerDep,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    q: Annotated[str, Query(max_length=MAX_QUERY, description="part of the title, any case")] = "",
    status: ListedStatus | None = None,
    group: Annotated[
        str | None, Query(max_length=128, description="documents shared with this group")
    ] = None,
    updated_since: Annotated[
        datetime | None,
        Query(description="only documents changed since then (ISO 8601; `next_updated_since` of a reply)"),
    ] = None,
    scope: Annotated[ListScope, Query(description="`all`: every document (admins only)")] = "readable",
) -> dict[str, Any]:
    """Documents the caller may read, newest first, a page at a time: `next_cursor` is null on
    the last page. Filters narrow the list; none of them can widen it."""
    chosen = DocumentFilter(
        text=q.strip(),
        status=DocumentStatus(status) if status else None,
        group=group,
        updated_since=updated_since,
        every_document=scope == "all",
    )
    page = container.documents.page(principal, chosen, limit, cursor)
    return {
        "documents": document_views(page.documents, container, page.latest),
        "next_cursor": page.next_cursor,
        "next_updated_since": iso(page.next_updated_since),
    }


@router.get(
    "/{document_id}", dependencies=[Scope("documents:read")], response_model=DocumentView, responses=FOUND
)
def get_document(document_id: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, Any]:
    """One document with its status, failure reason and progress."""
    doc = container.documents.readable(principal, document_id)
    _audit_read(container, principal, doc, "document.read")
    return document_views([doc], container)[0]


@router.get(
    "/{document_id}/content",
    response_class=FileResponse,
    dependencies=[Scope("documents:read")],
    responses=CONTENT,
)
def document_content(document_id: str, principal: CurrentPrincipal, container: ContainerDep) -> FileResponse:
    """The original file, as an attachment (never rendered inline by the browser)."""
    doc = container.documents.readable(principal, document_id)
    version = container.documents.version(doc.id, doc.current_version) if doc.current_version else None
    version = version or container.documents.latest(doc.id)
    if version is None or not Path(version.stored_path).is_file():
        raise NotFound("document not found")
    _audit_read(container, principal, doc, "document.content")
    return FileResponse(
        version.stored_path,
        filename=doc.filename,
        media_type="application/octet-stream",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.put(
    "/{document_id}/acl",
    dependencies=[Scope("documents:write")],
    response_model=AclChanged,
    responses=FOUND_WITH_BODY,
)
def update_acl(
    document_id: str, body: AclBody, principal: CurrentPrincipal, container: ContainerDep
) -> dict[str, Any]:
    """Replace who may read a document; revocations apply to the very next request."""
    before = acl_of(_owned(container, principal, document_id))
    acl = _granted(body, principal, container)
    container.documents.set_acl(document_id, acl)
    container.queue.apply_acl(document_id)
    names = container.users.names_for(before.users | acl.users)
    after = acl_view(acl, names)
    detail = {"document_id": document_id, "before": acl_view(before, names), "after": after}
    container.audit.record(principal, "document.acl", "rest", detail)
    return {"id": document_id, "acl": after}


@router.post(
    "/{document_id}/retry",
    status_code=202,
    dependencies=[Scope("documents:write")],
    response_model=Accepted,
    responses=RETRY,
)
def retry_document(document_id: str, principal: CurrentPrincipal, container: ContainerDep) -> dict[str, str]:
    """Process a failed document's newest version again (uploader or admin); 409 unless it failed."""
    doc = _owned(container, principal, document_id)
    version = container.documents.retry(doc.id)
    container.queue.ingest(doc.id, version)  # if the broker is down, the reconciler sends it
    container.audit.record(principal, "document.retry", "rest", {"document_id": doc.id, "version": version})
    return {"id": doc.id, "status": DocumentStatus.QUEUED.value, "version": version}


@router.delete("/{document_id}", status_code=204, dependencies=[Scope("documents:write")], responses=FOUND)
def delete_document(document_id: str, principal: CurrentPrincipal, container: ContainerDep) -> Response:
    """Delete a document; it disappears from every answer on the next request."""
    doc = _owned(container, principal, document_id)
    detail = {"document_id": doc.id, "title": doc.title, "acl": acl_of(doc).as_dict()}
    container.documents.delete(document_id)
    container.queue.purge(document_id)
    container.audit.record(principal, "document.delete", "rest", detail)
    return Response(status_code=204)


@router.get(
    "/{document_id}/why",
    dependencies=[Scope("documents:read")],
    response_model=Why,
    response_model_exclude_unset=True,  # `chunk` only when one was asked about
    responses=FOUND,
)
def why(
    document_id: str, principal: CurrentPrincipal, container: ContainerDep, chunk_id: str | None = None
) -> dict[str, Any]:
    """Why the caller may see this document (and chunk): which of their tokens matched which
    ACL entry of which version. A document they may not see is a 404 like a missing one."""
    doc = container.documents.readable(principal, document_id)
    acl = acl_of(doc)
    answer: dict[str, Any] = {
        "document_id": doc.id,
        "title": doc.title,
        "version": doc.current_version,
        "acl": acl_view(acl, container.users.names_for(acl.users)),
        "your_tokens": sorted(principal.tokens()),
        "matches": explain(principal, acl),
    }
    if chunk_id is not None:
        index = chunk_position(doc.id, doc.current_version, doc.chunk_count, chunk_id)
        if index is None:
            raise NotFound("chunk not found")
        answer["chunk"] = {"id": chunk_id, "index": index}
    return answer
