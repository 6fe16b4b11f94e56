"""Index a `corpus.jsonl` (lines `{"id","title","text"}`) for evaluation and benchmarks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from core.acl import PUBLIC, Principal
from core.ports import Embedder, VectorIndex
from core.types import Chunk, Element
from ingest.chunking import Chunker
from ingest.pipeline import EMBED_BATCH, embedding_text

CORPUS_VERSION = "corpus"


def corpus_versions(principal: Principal, document_ids: Collection[str]) -> dict[str, str]:
    """The registry stand-in of a corpus index: every corpus document is public and current."""
    return dict.fromkeys(document_ids, CORPUS_VERSION) if principal.can_read(frozenset({PUBLIC})) else {}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, skipping blank lines."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def corpus_chunks(path: Path, chunker: Chunker, limit: int | None = None) -> Iterator[Chunk]:
    """Public chunks of the (first `limit`) corpus documents, the corpus id as document id."""
    for doc in itertools.islice(read_jsonl(path), limit):
        title = str(doc.get("title") or "")
        for i, piece in enumerate(chunker.chunk([Element(str(doc.get("text") or ""))])):
            yield Chunk(str(doc["id"]), CORPUS_VERSION, i, piece.text, title, frozenset({PUBLIC}))


def index_corpus(
    chunks: Iterator[Chunk],
    embedder: Embedder,
    index: VectorIndex,
) -> int:
    """Embed and store chunks in batches; returns how many were stored."""
    batch: list[Chunk] = []
    total = 0

    def flush() -> None:
        nonlocal total
        index.upsert(batch, embedder.embed_passages([embedding_text(c) for c in batch]))
        total += len(batch)
        batch.clear()

    for chunk in chunks:
        batch.append(chunk)
        if len(batch) >= EMBED_BATCH:
            flush()
    if batch:
        flush()
    return total
