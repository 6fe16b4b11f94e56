"""`sillok eval retrieval`: index a corpus into an isolated collection and measure retrieval."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInput
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.corpus import corpus_chunks, corpus_versions, index_corpus
from ingest.intake import sha256_of
from retrieval.evaluation import EVAL_PRINCIPAL, load_qrels, load_queries, run_queries, summarize
from retrieval.retriever import Retriever
from serving.bootstrap import build
from serving.cli.console import emit_json, progress

eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Annotated[Path, typer.Option(help="corpus.jsonl", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="queries.jsonl", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="qrels.tsv", exists=True, dir_okay=False)],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Index the corpus (reused when already indexed with the same content and model) and score queries."""
    container = build()
    embedder = container.embedder
    chunker = container.chunker()
    chunking = container.settings.chunking
    key = hashlib.sha256(
        f"{sha256_of(corpus)}|{embedder.name}|{chunking.chunk_tokens}|{chunking.overlap_tokens}".encode()
    ).hexdigest()[:16]
    path = container.settings.data_dir / "eval" / key
    done = path / "complete"
    index = QdrantEdgeIndex(path)
    if not done.exists():
        index.close()
        shutil.rmtree(path, ignore_errors=True)  # an interrupted earlier run
        index = QdrantEdgeIndex(path)
        index.ensure_collection(embedder.dimension, embedder.name)
        total = sum(1 for line in corpus.open(encoding="utf-8") if line.strip())
        with progress() as bar:
            task = bar.add_task("Indexing corpus", total=total)

            def tracked() -> Iterator[Chunk]:
                for chunk in corpus_chunks(corpus, chunker):
                    if chunk.index == 0:
                        bar.advance(task)
                    yield chunk

            count = index_corpus(tracked(), embedder, index)
        done.write_text(json.dumps({"chunks": count, "model": embedder.name}))
    index.ensure_collection(embedder.dimension, embedder.name)
    query_texts = load_queries(queries)
    judgements = load_qrels(qrels)
    if not set(query_texts) & set(judgements):
        raise InvalidInput("no query in queries.jsonl has a judgement in qrels.tsv")
    retriever = Retriever(embedder, index, corpus_versions)
    depth = max(top_k, 10) * 3  # passages, so that enough distinct documents remain
    results = run_queries(query_texts, judgements, lambda q: retriever.search(EVAL_PRINCIPAL, q, depth))
    metrics = {**summarize(results, judgements), "model": embedder.name}
    index.close()
    if as_json:
        emit_json(metrics)
    else:
        for name, value in metrics.items():
            typer.echo(f"{name:>16}  {value}")
