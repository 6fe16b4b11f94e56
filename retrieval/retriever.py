"""ACL-filtered dense search: the only way passages leave the vector index."""

from __future__ import annotations

from core.acl import Principal
from core.ports import Embedder, VectorIndex
from core.types import ScoredChunk


class Retriever:
    """Finds the passages a principal may read that best match a query."""

    def __init__(self, embedder: Embedder, index: VectorIndex) -> None:
        self._embedder = embedder
        self._index = index

    def search(self, principal: Principal, query: str, top_k: int) -> list[ScoredChunk]:
        """The `top_k` best passages readable by `principal`; the filter runs inside the index."""
        if not query.strip():
            return []
        vector = self._embedder.embed_query(query)
        return self._index.search(vector, principal.tokens(), top_k)
