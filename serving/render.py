"""Shapes of public JSON answers shared by the CLI and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.types import ScoredChunk


def search_results(hits: Sequence[ScoredChunk]) -> dict[str, Any]:
    """`{"results": [...]}` as in the contract."""
    return {
        "results": [
            {
                "document_id": h.chunk.document_id,
                "chunk_id": h.chunk.id,
                "title": h.chunk.title,
                "text": h.chunk.text,
                "score": round(h.score, 6),
                "page": h.chunk.page,
                "section": h.chunk.section,
            }
            for h in hits
        ]
    }
