"""`sillok bench search` as a user runs it: an isolated shard of synthetic chunks from real
SciFact passages and the default embedder, one JSON line with latency and recall per share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.e2e.helpers import run_json, sillok_env

pytestmark = pytest.mark.e2e


def test_bench_search_reports_latency_and_recall_per_share_and_cleans_up(tmp_path: Path) -> None:
    env = sillok_env(tmp_path / "data", SILLOK_SHARED_DATA=str(SHARED))
    env["SILLOK_QDRANT__INDEXING_THRESHOLD_KB"] = "1000"  # small enough that 8,000 chunks get a graph
    env["SILLOK_QDRANT__FULL_SCAN_THRESHOLD_KB"] = "1000"
    args = ["bench", "search", "--chunks", "8000", "--base", "40", "--queries", "12"]
    result = run_json([*args, "--share", "0.01", "--share", "1.0", "--json"], env)
    assert result["chunks"] == 8000 and result["queries"] == 12
    assert [r["share"] for r in result["results"]] == [0.01, 1.0]
    for row in result["results"]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert 0.9 <= row["recall_at_20"] <= 1.0
    assert result["insert_s"] > 0 and result["rss_mb"] > 0 and result["disk_mb"] > 0
    assert result["settings"]["quantization"] == "int8" and result["settings"]["exact_search"] is False
    cache = tmp_path / "data" / "bench-search"
    assert [p.name for p in cache.iterdir()] == ["base-e5_multilingual_e5_small_q4_int8-40.npy"]
