"""The plain LangChain pipeline used as the reference in evaluations and benchmarks.

RecursiveCharacterTextSplitter (1,000 characters, 200 overlap) → the same embedder → a
QdrantVectorStore on qdrant-client's in-memory mode; dense search only, no ACL, no fusion.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from core.ports import Embedder
from ingest.storing import EMBED_BATCH

_COLLECTION = "reference"


def _adapter(embedder: Embedder) -> Any:
    from langchain_core.embeddings import Embeddings

    class Adapter(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_passages(texts)

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text)

    return Adapter()


class LangChainReference:
    """Indexes (id, title, text) documents the LangChain way and answers queries with document ids."""

    def __init__(self, embedder: Embedder, documents: Iterable[tuple[str, str, str]]) -> None:
        from langchain_core.documents import Document
        from langchain_qdrant import QdrantVectorStore
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        from qdrant_client import QdrantClient
        from qdrant_client.models import Distance, VectorParams

        started = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        chunks = splitter.split_documents(
            [Document(text, metadata={"id": doc_id, "title": title}) for doc_id, title, text in documents]
        )
        client = QdrantClient(location=":memory:")
        client.create_collection(
            _COLLECTION, vectors_config=VectorParams(size=embedder.dimension, distance=Distance.COSINE)
        )
        self._store: Any = QdrantVectorStore(
            client=client, collection_name=_COLLECTION, embedding=_adapter(embedder)
        )
        self._store.add_documents(chunks, batch_size=EMBED_BATCH)
        self.chunks = len(chunks)
        self.seconds = time.perf_counter() - started

    def search(self, query: str, k: int) -> list[str]:
        """Ids of the documents of the `k` nearest chunks, in order of their best chunk."""
        ranked: list[str] = []
        for doc in self._store.similarity_search(query, k=k):
            if doc.metadata["id"] not in ranked:
                ranked.append(doc.metadata["id"])
        return ranked


def langchain_run(embedder: Embedder, documents: Sequence[tuple[str, str]]) -> tuple[int, float]:
    """Chunks made and seconds taken by the reference pipeline on (title, text) documents."""
    reference = LangChainReference(embedder, ((str(i), t, x) for i, (t, x) in enumerate(documents)))
    return reference.chunks, reference.seconds
