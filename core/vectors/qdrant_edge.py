"""`VectorIndex` on Qdrant Edge: Qdrant's own engine in-process, persisted under the data dir.

Only one process may open a shard directory at a time; the embedded default therefore runs the
API and its ingestion worker in one process, and the shard's HNSW graph is built on a copy in a
child process (`edge_optimizer`), since the engine holds the GIL while it optimises.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from core.errors import ConfigurationError, DependencyUnavailable
from core.lexical import ANALYZER
from core.search import Fusion, Query, SearchMode, SparseVector
from core.settings import QdrantSettings
from core.types import Chunk, PointKey, ScoredChunk
from core.vectors import edge_optimizer
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
from core.vectors.tuning import SearchPlan, full_scan_points, indexing_points, plan, reference

DENSE = "dense"
SPARSE = "sparse"
_META_FILE = "sillok_index.json"
_JOURNAL_LIMIT = 5_000  # writes kept for replay while a copy is optimised; beyond, the copy is dropped
log = logging.getLogger(__name__)


def _match(key: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _fusion(fusion: Fusion) -> Any:  # the stubs do not relate Fusion.Rrf to Fusion
    if fusion.method == "dbsf":
        return qe.Fusion.Dbsf()
    return qe.Fusion.Rrf(k=fusion.k, weights=[fusion.dense_weight, fusion.sparse_weight])


def _params(p: SearchPlan) -> qe.SearchParams:
    quantization = qe.QuantizationSearchParams(
        ignore=not p.quantized, rescore=True, oversampling=p.oversampling
    )
    acorn = qe.AcornSearchParams(enable=p.acorn, max_selectivity=p.acorn_max_selectivity)
    return qe.SearchParams(hnsw_ef=p.hnsw_ef, exact=p.exact, quantization=quantization, acorn=acorn)


def _config(dimension: int, settings: QdrantSettings) -> qe.EdgeConfig:
    hnsw = qe.HnswIndexConfig(
        m=settings.hnsw_m,
        ef_construct=settings.hnsw_ef_construct,
        full_scan_threshold=settings.full_scan_threshold_kb,
        payload_m=settings.hnsw_payload_m,
    )
    quantization = (
        qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)
        if settings.quantization == "int8"
        else None
    )
    dense = qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine, on_disk=settings.on_disk)
    return qe.EdgeConfig(
        vectors={DENSE: dense},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        hnsw_config=hnsw,
        quantization_config=quantization,
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=settings.indexing_threshold_kb),
    )


class QdrantEdgeIndex:
    """Chunks in one Edge shard directory; the ACL filter is a payload-indexed `MatchAny`.

    Points land in an unindexed segment; `optimize` (run when ingestion goes idle, never by a
    query) builds the HNSW graph and int8 copies in a child process while searches go on. Each
    query picks exact or graph search. Every use of the shard holds one lock, which costs nothing
    (the engine holds the GIL anyway) and lets the optimised copy be swapped in between calls.
    """

    def __init__(self, path: Path, settings: QdrantSettings | None = None) -> None:
        self._path = path
        self._settings = settings or QdrantSettings()
        self._total = -1  # points, cached between writes: the planner reads it on every query
        self._shard: qe.EdgeShard | None = None
        self._keywords = False  # whether the shard holds sparse vectors of the current analyzer
        self._lock = threading.RLock()
        self._journal: list[qe.UpdateOperation] | None = None  # writes since the copy, for replay
        self._unindexed = 0  # points written since the graph was last built
        self._building = False  # one graph build at a time: a second would remove the first's copy
        if path.parent.exists():
            edge_optimizer.restore(path)
        if (path / _META_FILE).exists():
            try:
                self._shard = qe.EdgeShard.load(str(path))
            except Exception as exc:  # the engine raises a bare Exception
                if "WouldBlock" in str(exc):
                    raise DependencyUnavailable(
                        f"the vector index at {path} is open in another process (is `sillok serve` "
                        "running? stop it, or use a Qdrant server for several processes)"
                    ) from exc
                raise
            edge_optimizer.remove_leftovers(path)  # the shard is ours: no build of another process runs
            self._keywords = self._meta().get("sparse") == ANALYZER
            self._unindexed = max(0, self.count() - int(str(self._meta().get("indexed_points", 0))))

    def _meta(self) -> dict[str, object]:
        return dict(json.loads((self._path / _META_FILE).read_text()))

    def _write_meta(self, meta: dict[str, object]) -> None:
        (self._path / _META_FILE).write_text(json.dumps(meta))

    def _update(self, operation: qe.UpdateOperation, points: int = 0) -> None:
        """Apply one write (adding `points` new points), durably, and keep it for a pending swap."""
        with self._lock:
            self.shard.update(operation)
            self.shard.flush()
            self._unindexed += points
            if self._journal is not None and len(self._journal) <= _JOURNAL_LIMIT:
                self._journal.append(operation)
            self._total = -1

    @property
    def shard(self) -> qe.EdgeShard:
        """The open shard; `ensure_collection` must have run once."""
        if self._shard is None:
            raise ConfigurationError("the vector index has not been created yet")
        return self._shard

    def ensure_collection(self, dimension: int, model: str) -> None:
        """Create the shard with payload indexes, or check that it holds `model` vectors."""
        if self._shard is not None:
            stored = self._meta().get("model")
            if stored != model:
                raise ConfigurationError(
                    f"the vector index at {self._path} holds vectors of model {stored!r}, not "
                    f"{model!r}; run `sillok reindex` or use another data directory"
                )
            if not self._keywords:
                log.warning(
                    "the vector index at %s has no current keyword vectors: dense search only "
                    "until `sillok reindex`",
                    self._path,
                )
            return
        self._path.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(self._path), _config(dimension, self._settings))
        for key in INDEXED_KEYWORDS:
            shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
        shard.flush()
        self._write_meta({"model": model, "dimension": dimension, "sparse": ANALYZER})
        self._shard = shard
        self._keywords = True

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
            points.append(qe.Point(c.id, named, to_payload(c)))
        self._update(qe.UpdateOperation.upsert_points(points), len(points))

    def search(self, vector: Sequence[float], tokens: frozenset[str], limit: int) -> list[ScoredChunk]:
        """Nearest chunks whose ACL intersects `tokens`, filtered inside the engine."""
        return self.query(Query(dense=vector), tokens, limit)

    def optimize(self) -> bool:
        """Build the HNSW graph and int8 copies of what is not indexed yet, on a copy of the shard
        in a child process, then swap the copy in and replay the writes made meanwhile; True when
        a new index was swapped in. Blocks the caller (not searches) until then; writes wait only
        while the shard is copied."""
        with self._lock:
            if self._shard is None or self._building or self._unindexed < self._indexing_points():
                return False
            started = time.perf_counter()
            self._shard.flush()
            try:
                copy = edge_optimizer.copy_of(self._path)
            except OSError as exc:  # no room beside the shard for a second copy
                log.warning("vector index not optimised: cannot copy the shard: %s", exc)
                return False
            unindexed, indexed = self._unindexed, self.count()
            self._building, self._unindexed, self._journal = True, 0, []
        try:
            if not edge_optimizer.optimize_in_child(copy):
                return False  # below the engine's indexing threshold, or it failed (logged)
            with self._lock:
                journal = self._journal or []
                if len(journal) > _JOURNAL_LIMIT:
                    edge_optimizer.discard(copy)
                    self._unindexed += unindexed
                    log.info("vector index optimisation dropped: %d writes meanwhile", len(journal))
                    return False
                self._swap(copy, journal, indexed)
        finally:
            self._journal, self._building = None, False
        log.info("vector index optimised: %d points in %.1f s", indexed, time.perf_counter() - started)
        return True

    def _indexing_points(self) -> int:
        return indexing_points(self._settings, int(str(self._meta().get("dimension", 384))))

    def _swap(self, copy: Path, journal: Sequence[qe.UpdateOperation], indexed: int) -> None:
        """Close the shard, put the optimised copy in its place and replay `journal` on it."""
        self.shard.close()
        self._shard = None
        edge_optimizer.swap_in(self._path, copy)
        self._shard = qe.EdgeShard.load(str(self._path))
        for operation in journal:
            self._shard.update(operation)
        self._shard.flush()
        self._write_meta({**self._meta(), "indexed_points": indexed})
        self._total = -1

    def _plan(self, acl: qe.Filter) -> SearchPlan:
        if self._total < 0:
            self._total = self.shard.count(qe.CountRequest(exact=False))
        if self._total <= full_scan_points(self._settings) or self._settings.exact_search:
            return plan(self._settings, 0, self._total)
        # the payload index's cardinality estimate: no points are read
        readable = self.shard.count(qe.CountRequest(exact=False, filter=acl))
        return plan(self._settings, readable, self._total)

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
        acl = qe.Filter(must=[qe.FieldCondition(key=ACL_KEY, match=qe.MatchAny(sorted(t))) for t in required])
        with self._lock:
            return self._run(query, limit, acl, chosen)

    def _run(self, query: Query, limit: int, acl: qe.Filter, chosen: SearchPlan | None) -> list[ScoredChunk]:
        if self._shard is None:
            return []
        exact = _params(chosen or self._plan(acl))
        mode = query.mode
        if mode != SearchMode.DENSE and not self._keywords:  # built before keyword vectors existed
            mode = SearchMode.DENSE
        if mode == SearchMode.SPARSE and query.sparse:
            nearest = qe.Query.Nearest(_sparse(query.sparse), using=SPARSE)
            request = qe.QueryRequest(limit=limit, query=nearest, filter=acl, with_payload=True)
        elif query.dense is None:
            return []
        elif mode == SearchMode.HYBRID and query.sparse:
            depth = max(query.fusion.candidates, limit)
            dense = qe.Query.Nearest(list(query.dense), using=DENSE)
            keywords = qe.Query.Nearest(_sparse(query.sparse), using=SPARSE)
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(depth, dense, params=exact, filter=acl),
                    qe.Prefetch(depth, keywords, filter=acl),
                ],
                query=_fusion(query.fusion),
                filter=acl,
                with_payload=True,
            )
        else:
            nearest = qe.Query.Nearest(list(query.dense), using=DENSE)
            request = qe.QueryRequest(limit=limit, query=nearest, filter=acl, with_payload=True, params=exact)
        hits = self.shard.query(request)
        return [ScoredChunk(from_payload(h.payload or {}), float(h.score)) for h in hits]

    def delete_document(self, document_id: str, keep_version: str | None = None) -> None:
        """Remove a document's points, optionally sparing one version."""
        if self._shard is None:
            return
        must_not: list[Any] | None = [_match(VERSION_KEY, keep_version)] if keep_version else None
        selector = qe.Filter(must=[_match(DOCUMENT_KEY, document_id)], must_not=must_not)
        self._update(qe.UpdateOperation.delete_points_by_filter(selector))

    def set_acl(self, document_id: str, tokens: frozenset[str]) -> None:
        """Overwrite the ACL tokens of every point of a document."""
        if self._shard is None:
            return
        selector = qe.Filter(must=[_match(DOCUMENT_KEY, document_id)])
        self._update(qe.UpdateOperation.set_payload_by_filter(selector, {ACL_KEY: sorted(tokens)}))

    def count(self, document_id: str | None = None) -> int:
        """Exact number of points (in total or for one document)."""
        if self._shard is None:
            return 0
        flt = qe.Filter(must=[_match(DOCUMENT_KEY, document_id)]) if document_id else None
        with self._lock:
            return self.shard.count(qe.CountRequest(exact=True, filter=flt))

    def delete_version(self, document_id: str, version: str) -> None:
        """Remove the points of one version of a document."""
        if self._shard is None:
            return
        selector = qe.Filter(must=[_match(DOCUMENT_KEY, document_id), _match(VERSION_KEY, version)])
        self._update(qe.UpdateOperation.delete_points_by_filter(selector))

    def points(self, document_id: str | None = None) -> list[PointKey]:
        """What every stored point belongs to, for one document or all."""
        if self._shard is None:
            return []
        keys: list[PointKey] = []
        offset = None
        flt = qe.Filter(must=[_match(DOCUMENT_KEY, document_id)]) if document_id else None
        while True:
            with self._lock:
                records, offset = self.shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=512, filter=flt, with_payload=list(KEY_FIELDS))
                )
            keys.extend(point_key(str(r.id), r.payload or {}) for r in records)
            if offset is None:
                return keys

    def chunks(self) -> Iterator[Chunk]:
        """Every stored chunk with its payload, page by page."""
        if self._shard is None:
            return
        offset = None
        while True:
            with self._lock:
                request = qe.ScrollRequest(offset=offset, limit=256, with_payload=True)
                records, offset = self.shard.scroll(request)
            yield from (from_payload(r.payload or {}) for r in records)
            if offset is None:
                return

    def close(self) -> None:
        """Flush and release the shard directory."""
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
