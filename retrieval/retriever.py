"""ACL-filtered dense search: the only way passages leave the vector index."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from core.acl import Principal
from core.ports import Embedder, VectorIndex
from core.types import ScoredChunk

# Given a principal and document ids: those it may read now, each with the version readers see.
ReadableVersions = Callable[[Principal, Collection[str]], Mapping[str, str]]
_OVERFETCH = 2


class Retriever:
    """Finds the passages a principal may read that best match a query.

    The ACL filter runs inside the index; the registry (the source of truth) then confirms each
    hit, so a revoked grant, a deletion or a version being replaced hides passages on the very
    next query, before the stored points are updated.
    """

    def __init__(self, embedder: Embedder, index: VectorIndex, readable: ReadableVersions) -> None:
        self._embedder = embedder
        self._index = index
        self._readable = readable

    def search(self, principal: Principal, query: str, top_k: int) -> list[ScoredChunk]:
        """The `top_k` best passages readable by `principal`."""
        tokens = principal.tokens()
        if not query.strip() or not tokens:
            return []
        vector = self._embedder.embed_query(query)
        hits = self._index.search(vector, tokens, top_k * _OVERFETCH)
        current = self._readable(principal, {h.chunk.document_id for h in hits})
        return [h for h in hits if current.get(h.chunk.document_id) == h.chunk.version][:top_k]
