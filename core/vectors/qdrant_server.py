"""`VectorIndex` on a Qdrant server or cluster through `qdrant-client` (also its local mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from core.errors import ConfigurationError
from core.types import Chunk, PointKey, ScoredChunk
from core.vectors.payload import (
    ACL_KEY,
    DOCUMENT_KEY,
    INDEXED_KEYWORDS,
    KEY_FIELDS,
    VERSION_KEY,
    from_payload,
    point_key,
    to_payload,
)

_MODEL_KEY = "sillok_model"
DENSE = "dense"


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class QdrantServerIndex:
    """Chunks in one Qdrant collection; the ACL filter is a payload-indexed `MatchAny`."""

    def __init__(self, client: QdrantClient, collection: str) -> None:
        self._client = client
        self._collection = collection

    def ensure_collection(self, dimension: int, model: str) -> None:
        """Create the collection with payload indexes, or check that it holds `model` vectors."""
        if self._client.collection_exists(self._collection):
            info = self._client.get_collection(self._collection)
            stored = (info.config.metadata or {}).get(_MODEL_KEY)
            if stored != model:
                raise ConfigurationError(
                    f"collection {self._collection!r} holds vectors of model {stored!r}, "
                    f"not {model!r}; run `sillok reindex` or configure another collection"
                )
            return
        self._client.create_collection(
            self._collection,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            metadata={_MODEL_KEY: model},
        )
        for key in INDEXED_KEYWORDS:
            self._client.create_payload_index(
                self._collection, key, field_schema=models.PayloadSchemaType.KEYWORD
            )

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks; the same point id twice is one point."""
        if len(chunks) != len(vectors):
            raise ValueError("chunks and vectors differ in length")
        if not chunks:
            return
        points = [
            models.PointStruct(id=c.id, vector={DENSE: list(v)}, payload=to_payload(c))
            for c, v in zip(chunks, vectors, strict=True)
        ]
        self._client.upsert(self._collection, points=points, wait=True)

    def search(self, vector: Sequence[float], tokens: frozenset[str], limit: int) -> list[ScoredChunk]:
        """Nearest chunks whose ACL intersects `tokens`, filtered inside Qdrant."""
        if not tokens or limit <= 0:
            return []
        acl = models.Filter(
            must=[models.FieldCondition(key=ACL_KEY, match=models.MatchAny(any=sorted(tokens)))]
        )
        hits = self._client.query_points(
            self._collection,
            query=list(vector),
            using=DENSE,
            query_filter=acl,
            limit=limit,
            with_payload=True,
            search_params=models.SearchParams(exact=True),
        ).points
        return [ScoredChunk(from_payload(h.payload or {}), float(h.score)) for h in hits]

    def delete_document(self, document_id: str, keep_version: str | None = None) -> None:
        """Remove a document's points, optionally sparing one version."""
        must_not: list[Any] | None = [_match(VERSION_KEY, keep_version)] if keep_version else None
        selector = models.Filter(must=[_match(DOCUMENT_KEY, document_id)], must_not=must_not)
        self._client.delete(
            self._collection, points_selector=models.FilterSelector(filter=selector), wait=True
        )

    def set_acl(self, document_id: str, tokens: frozenset[str]) -> None:
        """Overwrite the ACL tokens of every point of a document."""
        self._client.set_payload(
            self._collection,
            payload={ACL_KEY: sorted(tokens)},
            points=models.Filter(must=[_match(DOCUMENT_KEY, document_id)]),
            wait=True,
        )

    def count(self, document_id: str | None = None) -> int:
        """Exact number of points (in total or for one document)."""
        flt = models.Filter(must=[_match(DOCUMENT_KEY, document_id)]) if document_id else None
        return self._client.count(self._collection, count_filter=flt, exact=True).count

    def delete_version(self, document_id: str, version: str) -> None:
        """Remove the points of one version of a document."""
        selector = models.Filter(must=[_match(DOCUMENT_KEY, document_id), _match(VERSION_KEY, version)])
        self._client.delete(
            self._collection, points_selector=models.FilterSelector(filter=selector), wait=True
        )

    def points(self, document_id: str | None = None) -> list[PointKey]:
        """What every stored point belongs to, for one document or all."""
        keys: list[PointKey] = []
        offset = None
        flt = models.Filter(must=[_match(DOCUMENT_KEY, document_id)]) if document_id else None
        while True:
            records, offset = self._client.scroll(
                self._collection, scroll_filter=flt, limit=512, offset=offset, with_payload=list(KEY_FIELDS)
            )
            keys.extend(point_key(str(r.id), r.payload or {}) for r in records)
            if offset is None:
                return keys

    def close(self) -> None:
        """Close the client."""
        self._client.close()
