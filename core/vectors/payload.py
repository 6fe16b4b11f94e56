"""The payload layout shared by both Qdrant adapters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.types import Chunk, PointKey

ACL_KEY = "acl"
DOCUMENT_KEY = "document_id"
VERSION_KEY = "version"
INDEXED_KEYWORDS = (ACL_KEY, DOCUMENT_KEY, VERSION_KEY)
KEY_FIELDS = (DOCUMENT_KEY, VERSION_KEY, "index")


def to_payload(chunk: Chunk) -> dict[str, Any]:
    """The payload stored with a chunk's point."""
    return {
        DOCUMENT_KEY: chunk.document_id,
        VERSION_KEY: chunk.version,
        "index": chunk.index,
        "text": chunk.text,
        "title": chunk.title,
        "page": chunk.page,
        "section": chunk.section,
        ACL_KEY: sorted(chunk.acl_tokens),
        "suspicious": chunk.suspicious,
    }


def from_payload(payload: Mapping[str, Any]) -> Chunk:
    """Rebuild a chunk from its stored payload."""
    return Chunk(
        document_id=str(payload[DOCUMENT_KEY]),
        version=str(payload[VERSION_KEY]),
        index=int(payload["index"]),
        text=str(payload["text"]),
        title=str(payload.get("title") or ""),
        acl_tokens=frozenset(payload.get(ACL_KEY) or ()),
        page=payload.get("page"),
        section=payload.get("section"),
        suspicious=bool(payload.get("suspicious", False)),
    )


def point_key(point_id: str, payload: Mapping[str, Any]) -> PointKey:
    """What a stored point belongs to, from its id and (partial) payload."""
    return PointKey(point_id, str(payload[DOCUMENT_KEY]), str(payload[VERSION_KEY]), int(payload["index"]))
