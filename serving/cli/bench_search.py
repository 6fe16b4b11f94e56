"""`sillok bench search`: search latency and recall at N chunks in an isolated Qdrant Edge shard.

The collection is synthetic but built from real material: SciFact passages give every point its
text and keyword vector; its dense vector is a passage's real embedding (by the configured
embedder) perturbed and renormalised, so neighbours cluster as real ones do. Each point carries
one of 100 group tokens; a principal admitting share F holds F x 100 of those groups. Queries are
SciFact's own, run through `Retriever.search` (query embedding included) with the configured
index settings, and compared with exact search on the original vectors of the same principal.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core.acl import Principal, group_token
from core.lexical import passage_vectors
from core.ports import Embedder
from core.search import SparseVector
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from retrieval.retriever import Retriever
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err, progress

GROUPS = 100
TOP = 20
_BATCH = 2_000
_DATA = Path(os.environ.get("SILLOK_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def _jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if len(rows) >= limit:
                    break
    return rows


def base_vectors(embedder: Embedder, texts: Sequence[str], cache: Path) -> np.ndarray:
    """Real embeddings of `texts`, cached by model and count (the slow step of a bench run)."""
    name = "".join(c if c.isalnum() else "_" for c in embedder.name)
    path = cache / f"base-{name}-{len(texts)}.npy"
    if path.exists():
        cached: np.ndarray = np.load(path)
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    out: list[list[float]] = []
    with progress() as bar:
        task = bar.add_task("Embedding base passages", total=len(texts))
        for start in range(0, len(texts), 64):
            out += embedder.embed_passages(texts[start : start + 64])
            bar.advance(task, min(64, len(texts) - start))
    vectors = np.asarray(out, dtype=np.float32)
    np.save(path, vectors)
    return vectors


def _perturbed(base: np.ndarray, ids: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Copies of base vectors with Gaussian noise of relative size `noise`, unit length again."""
    picked = base[ids % len(base)]
    jitter = rng.standard_normal(picked.shape).astype(np.float32) * (noise / np.sqrt(picked.shape[1]))
    out = picked + jitter * (ids >= len(base))[:, None]  # the first copy of each passage is exact
    unit: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def _thinned(vector: SparseVector, i: int, originals: int) -> SparseVector:
    """A copy's keyword vector keeps each term with probability 0.8, each weight jittered by up
    to 15%: copies of one passage must not tie exactly, or fusion orders the members of a tie
    arbitrarily (DBSF gives points found by keywords alone equal scores), and recall would
    measure that order rather than the search. Real passages rarely tie."""
    if i < originals or len(vector.indices) < 3:
        return vector
    rng = np.random.default_rng(i)
    keep = rng.random(len(vector.indices)) < 0.8
    scale = rng.uniform(0.85, 1.15, len(vector.indices))
    return SparseVector(
        tuple(x for x, k in zip(vector.indices, keep, strict=True) if k),
        tuple(float(w * f) for w, f, k in zip(vector.values, scale, keep, strict=True) if k),
    )


def _chunks(n: int, passages: Sequence[dict[str, Any]]) -> Iterator[Chunk]:
    for i in range(n):
        p = passages[i % len(passages)]
        group = group_token(f"g{zlib.crc32(str(i).encode()) % GROUPS}")  # independent of the passage
        yield Chunk(f"doc-{i // 8}", "v1", i % 8, p["text"], p["title"], frozenset({group}))


def build(
    index: QdrantEdgeIndex, n: int, passages: Sequence[dict[str, Any]], base: np.ndarray, noise: float
) -> float:
    """Insert `n` synthetic chunks; the seconds it took."""
    rng = np.random.default_rng(20261202)
    sparse_base = passage_vectors([p["text"] for p in passages])
    started = time.perf_counter()
    chunks = _chunks(n, passages)
    with progress() as bar:
        task = bar.add_task("Inserting chunks", total=n)
        for start in range(0, n, _BATCH):
            ids = np.arange(start, min(n, start + _BATCH))
            batch = [next(chunks) for _ in ids]
            dense = _perturbed(base, ids, noise, rng).tolist()
            index.upsert(
                batch, dense, [_thinned(sparse_base[i % len(passages)], int(i), len(passages)) for i in ids]
            )
            bar.advance(task, len(ids))
    return time.perf_counter() - started


def principal_for(share: float) -> Principal:
    """A user admitting about `share` of the synthetic chunks."""
    groups = max(1, round(share * GROUPS))
    return Principal("bench", frozenset(f"g{k}" for k in range(groups)), user_id="bench-user")


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    retriever: Retriever, index: QdrantEdgeIndex, queries: Sequence[str], share: float
) -> dict[str, float]:
    """Latency of `Retriever.search` and its recall@20 against exact search, for one share."""
    principal = principal_for(share)
    tokens = principal.tokens()
    for q in queries[:5]:  # warm caches and the model session
        retriever.search(principal, q, TOP)
    latencies: list[float] = []
    recalls: list[float] = []
    for q in queries:
        started = time.perf_counter()
        hits = retriever.search(principal, q, TOP)
        latencies.append((time.perf_counter() - started) * 1000)
        # the same depth the retriever asks for, so fusion ranks the same candidates
        truth = index.query_exact(retriever.query_for(q), tokens, TOP * 2)[:TOP]
        expected = {h.chunk.id for h in truth}
        if expected:
            recalls.append(len(expected & {h.chunk.id for h in hits}) / len(expected))
    return {
        "share": share,
        "readable": round(min(1.0, max(1, round(share * GROUPS)) / GROUPS), 3),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_pct(latencies, 0.95), 2),
        "p99_ms": round(_pct(latencies, 0.99), 2),
        "recall_at_20": round(statistics.fmean(recalls), 4) if recalls else 0.0,
    }


def _disk_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_search(
    chunks: Annotated[int, typer.Option(help="Synthetic chunks in the collection.")] = 100_000,
    share: Annotated[list[float] | None, typer.Option(help="Readable share of a principal (repeat).")] = None,
    queries: Annotated[int, typer.Option(help="SciFact queries per share.")] = 200,
    base: Annotated[int, typer.Option(help="Real passages embedded (cached).")] = 2_000,
    noise: Annotated[float, typer.Option(help="Relative noise of the perturbed copies.")] = 1.0,
    keep: Annotated[Path | None, typer.Option(help="Build (or reuse) the collection here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Build N synthetic chunks and measure search latency and recall@20 per readable share."""
    shares = share or [0.01, 0.1, 1.0]
    if any(not 0 < s <= 1 for s in shares):
        raise typer.BadParameter("a share is in (0, 1]", param_hint="--share")
    container = build_cli()
    settings = container.settings
    embedder = container.embedder
    scifact = _DATA / "eval" / "scifact"
    passages = _jsonl(scifact / "corpus.jsonl", base)
    texts = [q["text"] for q in _jsonl(scifact / "queries.jsonl", queries)]
    cache = settings.data_dir / "bench-search"
    vectors = base_vectors(embedder, [f"{p['title']}\n{p['text']}" for p in passages], cache)
    work = keep or Path(tempfile.mkdtemp(dir=cache, prefix="run-"))
    fresh = not (work / "qdrant").exists()
    index = QdrantEdgeIndex(work / "qdrant", settings.qdrant)
    index.ensure_collection(embedder.dimension, embedder.name)
    try:
        insert_s = build(index, chunks, passages, vectors, noise) if fresh else 0.0
        err.print("Building the HNSW graph and int8 copies…")
        started = time.perf_counter()
        index.optimize()
        optimize_s = time.perf_counter() - started
        retriever = Retriever(embedder, index, lambda _p, ids: dict.fromkeys(ids, "v1"), settings.retrieval)
        results = [measure(retriever, index, texts, s) for s in shares]
        result: dict[str, Any] = {
            "chunks": index.count(),
            "model": embedder.name,
            "mode": retriever.mode.value,
            "queries": len(texts),
            "insert_s": round(insert_s, 1),
            "optimize_s": round(optimize_s, 1),
            "rss_mb": _rss_mb(),
            "disk_mb": _disk_mb(work / "qdrant"),
            "load_average": round(os.getloadavg()[0], 2),
            "settings": settings.qdrant.model_dump(exclude={"api_key", "url"}),
            "results": results,
        }
    finally:
        index.close()
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if as_json:
        emit_json(result)
    else:
        for r in results:
            typer.echo(
                f"share {r['share']:>5}  p50 {r['p50_ms']:>7} ms  p95 {r['p95_ms']:>7} ms  "
                f"p99 {r['p99_ms']:>7} ms  recall@20 {r['recall_at_20']}"
            )
        typer.echo(
            f"insert {result['insert_s']} s, optimize {result['optimize_s']} s, "
            f"RSS {result['rss_mb']} MB, disk {result['disk_mb']} MB"
        )
