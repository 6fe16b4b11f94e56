"""ACL-filtered search (dense, keyword or fused): the only way passages leave the vector index."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from core.acl import Principal
from core.lexical import query_vector
from core.ports import Embedder, VectorIndex
from core.search import Fusion, Query, SearchMode
from core.settings import RetrievalSettings
from core.telemetry import tracer
from core.types import ScoredChunk
from retrieval.rerank import Reranker

# Given a principal and document ids: those it may read now, each with the version readers see.
ReadableVersions = Callable[[Principal, Collection[str]], Mapping[str, str]]
_OVERFETCH = 2


def fusion_of(settings: RetrievalSettings) -> Fusion:
    """The fusion the settings describe."""
    return Fusion(
        settings.fusion, settings.rrf_k, settings.dense_weight, settings.sparse_weight, settings.candidates
    )


class Retriever:
    """Finds the passages a principal may read that best match a query.

    The ACL filter runs inside the index, in every stage of a fused query; the registry (the
    source of truth) then confirms each hit, so a revoked grant, a deletion or a version being
    replaced hides passages on the very next query, before the stored points are updated. An
    optional reranker reorders only passages that passed both checks.
    """

    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        readable: ReadableVersions,
        settings: RetrievalSettings | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self._embedder = embedder
        self._index = index
        self._readable = readable
        settings = settings or RetrievalSettings()
        self._mode = SearchMode(settings.mode)
        self._fusion = fusion_of(settings)
        self._reranker = reranker
        self._rerank_depth = settings.rerank_depth

    @property
    def mode(self) -> SearchMode:
        """What ranks the passages."""
        return self._mode

    def query_for(self, text: str) -> Query:
        """The index query for `text` in this retriever's mode."""
        dense = self._embedder.embed_query(text) if self._mode != SearchMode.SPARSE else None
        sparse = query_vector(text) if self._mode != SearchMode.DENSE else None
        if self._mode == SearchMode.HYBRID and not sparse:
            sparse = None  # nothing but stop words: rank by meaning alone
        return Query(dense=dense, sparse=sparse, fusion=self._fusion)

    def search(self, principal: Principal, query: str, top_k: int) -> list[ScoredChunk]:
        """The `top_k` best passages readable by `principal`."""
        tokens = principal.tokens()
        if not query.strip() or not tokens:
            return []
        depth = max(top_k * _OVERFETCH, self._rerank_depth if self._reranker else 0)
        with tracer.start_as_current_span("retrieval.index_query") as span:
            span.set_attribute("sillok.search_mode", self._mode.value)
            span.set_attribute("sillok.depth", depth)
            hits = self._index.query(self.query_for(query), tokens, depth, principal.audience)
            span.set_attribute("sillok.hits", len(hits))
        current = self._readable(principal, {h.chunk.document_id for h in hits})
        hits = [h for h in hits if current.get(h.chunk.document_id) == h.chunk.version]
        if self._reranker is not None and hits:
            with tracer.start_as_current_span("retrieval.rerank"):
                hits = self._reranker.rerank(query, hits[: self._rerank_depth])
        return hits[:top_k]
