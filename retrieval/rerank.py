"""Optional reranking of retrieved passages by a cross-encoder from a local folder.

No cross-encoder ships in a wheel Sillok can install, so reranking is off unless
`SILLOK_RETRIEVAL__RERANKER_PATH` names a local sentence-transformers cross-encoder folder
(e.g. a bge-reranker on a GPU host). It only reorders passages the principal may already read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from core.errors import ConfigurationError
from core.types import ScoredChunk


class Reranker(Protocol):
    """Reorders passages by their relevance to a query."""

    def rerank(self, query: str, hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        """The same passages, best first, each with the reranker's score."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` loaded from a local folder (GPU when present)."""

    def __init__(self, path: Path, batch_size: int = 16) -> None:
        if not (path / "config.json").exists():
            raise ConfigurationError(f"no cross-encoder model at {path}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import CrossEncoder

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model: Any = CrossEncoder(str(path), device=device, local_files_only=True)
        self._batch_size = batch_size

    def rerank(self, query: str, hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        """Score (query, passage) pairs and sort by the score."""
        if not hits:
            return []
        pairs = [(query, f"{h.chunk.title}\n{h.chunk.text}") for h in hits]
        scores = self._model.predict(pairs, batch_size=self._batch_size, show_progress_bar=False)
        ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -float(pair[1]))
        return [replace(hit, score=float(score)) for hit, score in ranked]


def make_reranker(path: Path | None) -> Reranker | None:
    """The configured reranker, or None when reranking is off."""
    return CrossEncoderReranker(path) if path else None
