"""Index a `corpus.jsonl` (lines `{"id","title","text"}`) for evaluation and benchmarks.

Evaluation corpora are not public: every document is readable by the group `eval` and by one of
ten slice groups (`eval-slice-0` … `eval-slice-9`, by a hash of its id), so that a search can be
run with a filter that admits about a tenth of the corpus.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from core.acl import Principal, group_token
from core.ports import Embedder, VectorIndex
from core.types import Chunk, Element
from ingest.chunking import Chunker
from ingest.storing import store

CORPUS_VERSION = "corpus"
EVAL_GROUP = "eval"
SLICES = 10


def slice_of(document_id: str) -> int:
    """The evaluation slice (0-9) a corpus document belongs to."""
    return zlib.crc32(document_id.encode("utf-8")) % SLICES


def slice_group(n: int) -> str:
    """The group that may read slice `n` of an evaluation corpus."""
    return f"eval-slice-{n}"


def corpus_acl(document_id: str) -> frozenset[str]:
    """The ACL tokens of a corpus document: the whole-corpus group and its slice group."""
    return frozenset({group_token(EVAL_GROUP), group_token(slice_group(slice_of(document_id)))})


def corpus_versions(principal: Principal, document_ids: Collection[str]) -> dict[str, str]:
    """The registry stand-in of a corpus index: documents the principal may read, all current."""
    return {d: CORPUS_VERSION for d in document_ids if principal.can_read(corpus_acl(d))}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, skipping blank lines."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def corpus_chunks(
    path: Path,
    chunker: Chunker,
    limit: int | None = None,
    acl: Callable[[str], frozenset[str]] = corpus_acl,
) -> Iterator[Chunk]:
    """Chunks of the (first `limit`) corpus documents, the corpus id as document id."""
    for doc in itertools.islice(read_jsonl(path), limit):
        title = str(doc.get("title") or "")
        tokens = acl(str(doc["id"]))
        for i, piece in enumerate(chunker.chunk([Element(str(doc.get("text") or ""))])):
            yield Chunk(str(doc["id"]), CORPUS_VERSION, i, piece.text, title, tokens)


def index_corpus(chunks: Iterator[Chunk], embedder: Embedder, index: VectorIndex) -> int:
    """Embed and store chunks (dense and keyword vectors) in batches; returns how many were stored."""
    return store(chunks, embedder, index)
