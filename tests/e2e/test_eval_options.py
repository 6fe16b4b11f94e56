"""`sillok eval retrieval` options on a small SciFact slice: modes, the LangChain baseline, reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import EVAL
from tests.e2e.helpers import run_json, sillok_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("slice")
    lines = (EVAL / "scifact" / "qrels.tsv").read_text().splitlines()
    rows = [r.split("\t") for r in lines[1:9]]
    wanted = {r[1] for r in rows}
    corpus = [
        line
        for i, line in enumerate((EVAL / "scifact" / "corpus.jsonl").read_text().splitlines())
        if json.loads(line)["id"] in wanted or i < 30
    ]
    (folder / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (folder / "qrels.tsv").write_text("\n".join([lines[0], *("\t".join(r) for r in rows)]) + "\n")
    shutil.copy(EVAL / "scifact" / "queries.jsonl", folder / "queries.jsonl")
    return folder, sillok_env(tmp_path_factory.mktemp("data"))


def args(folder: Path, *extra: str) -> list[str]:
    files = [f"--{n}={folder / f}" for n, f in (("corpus", "corpus.jsonl"), ("queries", "queries.jsonl"))]
    return ["eval", "retrieval", *files, f"--qrels={folder / 'qrels.tsv'}", "--json", *extra]


def test_hybrid_with_the_langchain_baseline_and_an_html_report(data: tuple[Path, dict[str, str]]) -> None:
    folder, env = data
    report = folder / "report.html"
    result = run_json(args(folder, "--baseline", "langchain", "--report", str(report)), env)
    assert result["mode"] == "hybrid" and result["ndcg@10"] > 0.5
    baseline = result["baseline"]
    assert baseline["name"] == "langchain" and baseline["queries"] == result["queries"]
    assert {"ndcg@10", "recall@5", "latency_ms_p50", "latency_ms_p95", "chunks"} <= set(baseline)
    check = result["acl_check"]
    assert 0 < check["admitted_share"] < 0.3 and "queries" in check
    if check["queries"]:
        assert check["ndcg@10"] >= check["ndcg@10_unfiltered"]
    page = report.read_text()
    assert "data:image/png;base64," in page and "langchain nDCG@10" in page


def test_keyword_mode_reuses_the_index_and_limits_queries(data: tuple[Path, dict[str, str]]) -> None:
    folder, env = data
    result = run_json(args(folder, "--mode", "sparse", "--limit", "3", "--report", str(folder / "r.md")), env)
    assert result["mode"] == "sparse" and result["queries"] == 3
    assert (folder / "r.png").exists() and "| sillok sparse |" in (folder / "r.md").read_text()
