"""Ingestion throughput against the raw encode rate of the same model on the same chunks, and
against a plain LangChain pipeline (RecursiveCharacterTextSplitter + QdrantVectorStore)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE
from core.errors import DocumentError
from core.intake import Intake
from core.ports import DocumentParser, Embedder
from ingest.corpus import read_jsonl
from ingest.pipeline import IngestionPipeline
from ingest.reference import langchain_run
from ingest.storing import EMBED_BATCH

__all__ = [
    "RecordingEmbedder",
    "corpus_texts",
    "file_texts",
    "ingest_files",
    "langchain_run",
    "raw_encode_rate",
]


@dataclass
class RecordingEmbedder:
    """Passes calls through to an embedder and remembers every passage it encoded."""

    inner: Embedder
    passages: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self.inner.name

    @property
    def dimension(self) -> int:
        """The wrapped model's dimension."""
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        """The wrapped model's input limit."""
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for the wrapped model."""
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode and record."""
        self.passages.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> list[float]:
        """Encode a query (not recorded)."""
        return self.inner.embed_query(text)


def raw_encode_rate(embedder: Embedder, passages: Sequence[str]) -> float:
    """Passages per second of the bare model on `passages`, in the pipeline's batch size."""
    started = time.perf_counter()
    for start in range(0, len(passages), EMBED_BATCH):
        embedder.embed_passages(passages[start : start + EMBED_BATCH])
    return len(passages) / max(time.perf_counter() - started, 1e-9)


def ingest_files(intake: Intake, pipeline: IngestionPipeline, files: Sequence[Path]) -> int:
    """Run the pipeline over files (public ACL); returns the number of chunks indexed."""
    chunks = 0
    for path in files:
        reg = intake.submit(
            path, namespace=CONNECTOR_NAMESPACE, source=path.resolve().as_uri(), acl=Acl.of(public=True)
        )
        chunks += pipeline.process(reg.document_id, reg.version).chunks
    return chunks


def file_texts(parser: DocumentParser, files: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """(title, text) of every file that parses; the reference pipeline's loader."""
    for path in files:
        try:
            parsed = parser.parse(path, path.name)
        except DocumentError:
            continue
        yield path.stem, "\n\n".join(e.text for e in parsed.elements)


def corpus_texts(path: Path, limit: int | None) -> Iterator[tuple[str, str]]:
    """(title, text) of the first `limit` documents of a corpus.jsonl."""
    for i, doc in enumerate(read_jsonl(path)):
        if limit is not None and i >= limit:
            return
        yield str(doc.get("title") or ""), str(doc.get("text") or "")
