"""Retrieval evaluation with the BEIR / pytrec_eval definitions of the metrics.

Passages are ranked by the index; a document's rank is that of its best passage.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.types import ScoredChunk


def load_queries(path: Path) -> dict[str, str]:
    """Query id → text from `queries.jsonl`."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            out[str(item["id"])] = str(item["text"])
    return out


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Query id → {document id: relevance} from a TSV with a header row."""
    qrels: dict[str, dict[str, int]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and int(parts[2]) > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def rank_documents(hits: Sequence[ScoredChunk]) -> list[str]:
    """Document ids in order of their best passage."""
    ranked: list[str] = []
    for hit in hits:
        if hit.chunk.document_id not in ranked:
            ranked.append(hit.chunk.document_id)
    return ranked


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """nDCG@k with graded gains (binary qrels give binary gains)."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            return 1.0 / (i + 1)
    return 0.0


@dataclass(frozen=True)
class QueryResult:
    """One query's ranking and timing."""

    query_id: str
    ranked: list[str]
    latency_ms: float


def run_queries(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    rank: Callable[[str], list[str]],
) -> list[QueryResult]:
    """Run every judged query through `rank` (query text → document ids, best first), timing it."""
    results = []
    for qid, text in queries.items():
        if qid not in qrels:
            continue
        started = time.perf_counter()
        ranked = rank(text)
        elapsed = (time.perf_counter() - started) * 1000
        results.append(QueryResult(qid, ranked, elapsed))
    return results


def per_query(
    results: Sequence[QueryResult], qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, float]]:
    """nDCG@10, Recall@5 and the rank of the first relevant document (0: none in the list) per query."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        relevant = qrels[r.query_id]
        first = next((i + 1 for i, d in enumerate(r.ranked) if d in relevant), 0)
        out[r.query_id] = {
            "ndcg@10": ndcg_at(r.ranked, relevant, 10),
            "recall@5": recall_at(r.ranked, relevant, 5),
            "first_relevant": float(first),
        }
    return out


def recall_curve(results: Sequence[QueryResult], qrels: dict[str, dict[str, int]], depth: int) -> list[float]:
    """Mean Recall@k for k = 1 … `depth`."""
    return [
        statistics.fmean(recall_at(r.ranked, qrels[r.query_id], k) for r in results)
        for k in range(1, depth + 1)
    ]


def summarize(results: Sequence[QueryResult], qrels: dict[str, dict[str, int]]) -> dict[str, float | int]:
    """The contract's metrics, averaged over queries."""
    if not results:
        raise ValueError("no judged queries were run")

    def mean(metric: Callable[[Sequence[str], dict[str, int], int], float], k: int) -> float:
        return round(statistics.fmean(metric(r.ranked, qrels[r.query_id], k) for r in results), 4)

    latencies = sorted(r.latency_ms for r in results)
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    return {
        "queries": len(results),
        "ndcg@10": mean(ndcg_at, 10),
        "recall@1": mean(recall_at, 1),
        "recall@5": mean(recall_at, 5),
        "recall@10": mean(recall_at, 10),
        "mrr@10": mean(mrr_at, 10),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p95": round(p95, 2),
    }
