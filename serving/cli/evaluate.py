"""`sillok eval retrieval`: index a corpus into an isolated collection and measure retrieval.

Besides the contract's metrics it can run the plain LangChain pipeline on the same data in the
same run (`--baseline langchain`), write a report with a per-query table and a Recall@k plot
(`--report`), and checks that a filter admitting a tenth of the corpus costs no quality there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from core.acl import Principal
from core.errors import InvalidInput
from core.intake import sha256_of
from core.lexical import ANALYZER
from core.ports import Embedder
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker
from ingest.corpus import (
    EVAL_GROUP,
    corpus_chunks,
    corpus_versions,
    index_corpus,
    read_jsonl,
    slice_group,
    slice_of,
)
from ingest.reference import LangChainReference
from retrieval.evaluation import (
    QueryResult,
    load_qrels,
    load_queries,
    rank_documents,
    run_queries,
    summarize,
)
from retrieval.report import Run, write_report
from retrieval.rerank import make_reranker
from retrieval.retriever import Retriever
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err, progress

eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
_ACL_SLICE = 0


def _run(
    label: str, queries: dict[str, str], qrels: dict[str, dict[str, int]], rank: Callable[[str], list[str]]
) -> list[QueryResult]:
    """`run_queries` with a progress bar (its advance, microseconds, falls inside the timed call)."""
    with progress() as bar:
        task = bar.add_task(label, total=sum(1 for q in queries if q in qrels))

        def ranked(text: str) -> list[str]:
            bar.advance(task)
            return rank(text)

        return run_queries(queries, qrels, ranked)


def _lines(path: Path) -> int:
    """How many documents a corpus.jsonl holds (its non-blank lines)."""
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def _open_index(corpus: Path, embedder: Embedder, chunker: Chunker, folder: Path) -> QdrantEdgeIndex:
    """The corpus's isolated collection, indexed now unless an earlier run completed it."""
    done = folder / "complete"
    index = QdrantEdgeIndex(folder)
    if not done.exists():
        index.close()
        shutil.rmtree(folder, ignore_errors=True)  # an interrupted earlier run
        index = QdrantEdgeIndex(folder)
        index.ensure_collection(embedder.dimension, embedder.name)
        total = _lines(corpus)
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
    return index


def _acl_check(
    retriever: Retriever,
    results: list[QueryResult],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    corpus: Path,
    depth: int,
) -> dict[str, float | int]:
    """Quality on the queries answerable inside one slice, searched with and without its filter."""
    slices = [slice_of(str(d["id"])) for d in read_jsonl(corpus)]
    share = round(slices.count(_ACL_SLICE) / max(len(slices), 1), 3)
    inside = {q for q, rel in qrels.items() if all(slice_of(d) == _ACL_SLICE for d in rel)}
    unfiltered = [r for r in results if r.query_id in inside]
    if not unfiltered:
        return {"queries": 0, "admitted_share": share}
    principal = Principal("eval-acl", frozenset({slice_group(_ACL_SLICE)}))
    subset = {r.query_id: queries[r.query_id] for r in unfiltered}
    filtered = _run(
        "Queries (ACL filter)", subset, qrels, lambda q: rank_documents(retriever.search(principal, q, depth))
    )
    a, b = summarize(filtered, qrels), summarize(unfiltered, qrels)
    check: dict[str, float | int] = {"queries": len(filtered), "admitted_share": share}
    for key in ("ndcg@10", "recall@1", "recall@5", "latency_ms_p50"):
        check[key] = a[key]
        check[f"{key}_unfiltered"] = b[key]
    return check


def _baseline(
    embedder: Embedder, corpus: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]], depth: int
) -> tuple[list[QueryResult], dict[str, object]]:
    err.print("Indexing the corpus with the LangChain reference pipeline…")
    docs = ((str(d["id"]), str(d.get("title") or ""), str(d.get("text") or "")) for d in read_jsonl(corpus))
    reference = LangChainReference(embedder, docs)
    results = _run("Queries (LangChain)", queries, qrels, lambda q: reference.search(q, depth))
    summary: dict[str, object] = {"name": "langchain", **summarize(results, qrels)}
    summary.update(chunks=reference.chunks, index_seconds=round(reference.seconds, 1))
    return results, summary


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Annotated[Path, typer.Option(help="corpus.jsonl", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="queries.jsonl", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="qrels.tsv", exists=True, dir_okay=False)],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=1000)] = 10,
    mode: Annotated[
        str | None, typer.Option(help="dense, sparse or hybrid (default: SILLOK_RETRIEVAL__MODE, hybrid).")
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Also run a reference pipeline: langchain.")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write a Markdown (.md) or HTML (.html) report.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N judged queries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Index the corpus (reused when already indexed with the same content and model) and score queries."""
    if mode not in (None, "dense", "sparse", "hybrid"):
        raise typer.BadParameter("choose dense, sparse or hybrid", param_hint="--mode")
    if baseline not in (None, "langchain"):
        raise typer.BadParameter("the only baseline is 'langchain'", param_hint="--baseline")
    container = build_cli()
    settings = container.settings
    embedder, chunker = container.embedder, container.worker.chunker()
    chunking = settings.chunking
    key = hashlib.sha256(
        f"{sha256_of(corpus)}|{embedder.name}|{chunking.chunk_tokens}|{chunking.overlap_tokens}|"
        f"{ANALYZER}|slices-v1".encode()
    ).hexdigest()[:16]
    index = _open_index(corpus, embedder, chunker, settings.data_dir / "eval" / key)
    judgements = load_qrels(qrels)
    query_texts = {q: t for q, t in load_queries(queries).items() if q in judgements}
    if not query_texts:
        raise InvalidInput("no query in queries.jsonl has a judgement in qrels.tsv")
    query_texts = dict(list(query_texts.items())[:limit])
    retrieval = settings.retrieval.model_copy(update={"mode": mode} if mode else {})
    retriever = Retriever(embedder, index, corpus_versions, retrieval, make_reranker(retrieval.reranker_path))
    principal = Principal("eval", frozenset({EVAL_GROUP}))
    depth = max(top_k, 10) * 3  # passages, so that enough distinct documents remain
    results = _run(
        "Queries", query_texts, judgements, lambda q: rank_documents(retriever.search(principal, q, depth))
    )
    metrics: dict[str, object] = {**summarize(results, judgements), "model": embedder.name}
    metrics.update(mode=retriever.mode.value, chunks=index.count())
    metrics["acl_check"] = _acl_check(retriever, results, query_texts, judgements, corpus, depth)
    runs = [Run(f"sillok {retriever.mode.value}", results, metrics)]
    index.close()
    if baseline == "langchain":
        base_results, base = _baseline(embedder, corpus, query_texts, judgements, depth)
        metrics["baseline"] = base
        runs.append(Run("langchain", base_results, base))
    if report:
        title = f"Retrieval on {corpus.parent.name or corpus.name} ({len(results)} queries, {embedder.name})"
        write_report(report, title, runs, query_texts, judgements)
        err.print(f"Report written to {report}")
    if as_json:
        emit_json(metrics)
        return
    for run in runs:
        typer.echo(run.label)
        for name, value in run.metrics.items():
            if not isinstance(value, dict):
                typer.echo(f"{name:>16}  {value}")
    typer.echo(f"{'acl_check':>16}  {json.dumps(metrics['acl_check'])}")
