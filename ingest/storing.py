"""Embedding and storing passages: the one recipe every writer of the vector index follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from itertools import islice

from core.lexical import passage_vectors
from core.ports import Embedder, VectorIndex
from core.types import Chunk
from ingest.injection import gives_instructions

EMBED_BATCH = 64


def embedding_text(chunk: Chunk) -> str:
    """The text embedded for a chunk: its document title and section give it context."""
    context = [part for part in (chunk.title, chunk.section) if part and part not in chunk.text]
    return "\n".join([*context, chunk.text])


def store(
    chunks: Iterable[Chunk],
    embedder: Embedder,
    index: VectorIndex,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Embed chunks (dense and keyword vectors) and upsert them in batches, passages that give a
    model instructions flagged as suspicious; `on_batch` hears how many are stored after each
    batch. Returns how many were stored."""
    stored = 0
    source = (replace(c, suspicious=gives_instructions(c.text)) for c in chunks)
    while batch := list(islice(source, EMBED_BATCH)):
        texts = [embedding_text(c) for c in batch]
        index.upsert(batch, embedder.embed_passages(texts), passage_vectors(texts))
        stored += len(batch)
        if on_batch is not None:
            on_batch(stored)
    return stored
