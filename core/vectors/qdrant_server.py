"""`VectorIndex` on a Qdrant server or cluster through `qdrant-client` (also its local mode)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from core.errors import ConfigurationError
from core.lexical import ANALYZER
from core.search import Fusion, Query, SearchMode, SparseVector
from core.settings import QdrantSettings
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
from core.vectors.tuning import SearchPlan, plan, reference

_MODEL_KEY = "sillok_model"
_SPARSE_KEY = "sillok_sparse"
DENSE = "dense"
SPARSE = "sparse"
log = logging.getLogger(__name__)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _fusion(fusion: Fusion) -> models.RrfQuery | models.FusionQuery:
    if fusion.method == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    return models.RrfQuery(rrf=models.Rrf(k=fusion.k, weights=[fusion.dense_weight, fusion.sparse_weight]))


def _params(p: SearchPlan) -> models.SearchParams:
    quantization = models.QuantizationSearchParams(
        ignore=not p.quantized, rescore=True, oversampling=p.oversampling
    )
    acorn = models.AcornSearchParams(enable=p.acorn, max_selectivity=p.acorn_max_selectivity)
    return models.SearchParams(hnsw_ef=p.hnsw_ef, exact=p.exact, quantization=quantization, acorn=acorn)


class QdrantServerIndex:
    """Chunks in one Qdrant collection; the ACL filter is a payload-indexed `MatchAny`.

    The server builds the HNSW graph itself as points arrive (its optimizers); each query picks
    exact or graph search by the principal's readable share, as the Edge adapter does.
    """

    def __init__(self, client: QdrantClient, collection: str, settings: QdrantSettings | None = None) -> None:
        self._client = client
        self._collection = collection
        self._settings = settings or QdrantSettings()
        self._keywords = False  # whether the collection holds sparse vectors of the current analyzer

    def ensure_collection(self, dimension: int, model: str) -> None:
        """Create the collection with payload indexes, or check that it holds `model` vectors."""
        if self._client.collection_exists(self._collection):
            info = self._client.get_collection(self._collection)
            metadata = info.config.metadata or {}
            stored = metadata.get(_MODEL_KEY)
            if stored != model:
                raise ConfigurationError(
                    f"collection {self._collection!r} holds vectors of model {stored!r}, "
                    f"not {model!r}; run `sillok reindex` or configure another collection"
                )
            self._keywords = metadata.get(_SPARSE_KEY) == ANALYZER
            if not self._keywords:
                log.warning(
                    "collection %r has no current keyword vectors: dense search only until `sillok reindex`",
                    self._collection,
                )
            return
        t = self._settings
        quantization = (
            models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            )
            if t.quantization == "int8"
            else None
        )
        self._client.create_collection(
            self._collection,
            vectors_config={
                DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE, on_disk=t.on_disk)
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            hnsw_config=models.HnswConfigDiff(
                m=t.hnsw_m,
                ef_construct=t.hnsw_ef_construct,
                full_scan_threshold=t.full_scan_threshold_kb,
                payload_m=t.hnsw_payload_m,
            ),
            quantization_config=quantization,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=t.indexing_threshold_kb),
            metadata={_MODEL_KEY: model, _SPARSE_KEY: ANALYZER},
        )
        self._keywords = True
        for key in INDEXED_KEYWORDS:
            self._client.create_payload_index(
                self._collection, key, field_schema=models.PayloadSchemaType.KEYWORD
            )

    @property
    def has_keywords(self) -> bool:
        """Whether sparse keyword vectors of the current analyzer are stored and searched."""
        return self._keywords

    def upsert(
        self,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        """Store chunks with their dense (and sparse) vectors; the same point id twice is one point."""
        if len(chunks) != len(vectors) or (sparse is not None and len(sparse) != len(chunks)):
            raise ValueError("chunks and vectors differ in length")
        if not chunks:
            return
        points = []
        for i, (c, v) in enumerate(zip(chunks, vectors, strict=True)):
            named: dict[str, Any] = {DENSE: list(v)}
            if sparse is not None and self._keywords and sparse[i]:
                named[SPARSE] = _sparse(sparse[i])
            points.append(models.PointStruct(id=c.id, vector=named, payload=to_payload(c)))
        self._client.upsert(self._collection, points=points, wait=True)

    def search(self, vector: Sequence[float], tokens: frozenset[str], limit: int) -> list[ScoredChunk]:
        """Nearest chunks whose ACL intersects `tokens`, filtered inside Qdrant."""
        return self.query(Query(dense=vector), tokens, limit)

    def optimize(self) -> bool:
        """Nothing to do: the server indexes in the background by its own optimizers."""
        return False

    def plan(self, acl: models.Filter) -> SearchPlan:
        """Exact or graph search for a filter, from the server's cardinality estimates."""
        if self._settings.exact_search:
            return plan(self._settings, 0, 0)
        total = self._client.count(self._collection, exact=False).count
        readable = self._client.count(self._collection, count_filter=acl, exact=False).count
        return plan(self._settings, readable, total)

    def query(
        self, query: Query, tokens: frozenset[str], limit: int, also: Sequence[frozenset[str]] = ()
    ) -> list[ScoredChunk]:
        """Dense, sparse or fused search; the ACL filter is part of every stage of the query."""
        return self._query(query, tokens, limit, also, None)

    def query_exact(
        self, query: Query, tokens: frozenset[str], limit: int, also: Sequence[frozenset[str]] = ()
    ) -> list[ScoredChunk]:
        """`query` by exact search on the original vectors: the reference for recall."""
        return self._query(query, tokens, limit, also, reference(self._settings))

    def _query(
        self,
        query: Query,
        tokens: frozenset[str],
        limit: int,
        also: Sequence[frozenset[str]],
        chosen: SearchPlan | None,
    ) -> list[ScoredChunk]:
        required = [tokens, *also]
        if not all(required) or limit <= 0:
            return []
        acl = models.Filter(
            must=[models.FieldCondition(key=ACL_KEY, match=models.MatchAny(any=sorted(t))) for t in required]
        )
        exact = _params(chosen or self.plan(acl))
        mode = query.mode
        if mode != SearchMode.DENSE and not self._keywords:  # built before keyword vectors existed
            mode = SearchMode.DENSE
        args: dict[str, Any] = {}
        if mode == SearchMode.SPARSE and query.sparse:
            args = {"query": _sparse(query.sparse), "using": SPARSE}
        elif query.dense is None:
            return []
        elif mode == SearchMode.HYBRID and query.sparse:
            depth = max(query.fusion.candidates, limit)
            args = {
                "prefetch": [
                    models.Prefetch(
                        query=list(query.dense), using=DENSE, filter=acl, limit=depth, params=exact
                    ),
                    models.Prefetch(query=_sparse(query.sparse), using=SPARSE, filter=acl, limit=depth),
                ],
                "query": _fusion(query.fusion),
            }
        else:
            args = {"query": list(query.dense), "using": DENSE, "search_params": exact}
        hits = self._client.query_points(
            self._collection, query_filter=acl, limit=limit, with_payload=True, **args
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

    def chunks(self) -> Iterator[Chunk]:
        """Every stored chunk with its payload, page by page."""
        offset = None
        while True:
            records, offset = self._client.scroll(
                self._collection, limit=256, offset=offset, with_payload=True
            )
            yield from (from_payload(r.payload or {}) for r in records)
            if offset is None:
                return

    @property
    def client(self) -> QdrantClient:
        """The underlying client (alias management)."""
        return self._client

    @property
    def collection(self) -> str:
        """The collection (or alias) name."""
        return self._collection

    def close(self) -> None:
        """Close the client."""
        self._client.close()
