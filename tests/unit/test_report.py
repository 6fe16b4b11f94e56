"""Evaluation reports: Markdown with a plot beside it, or one HTML file with the plot inside."""

from pathlib import Path

import pytest

from retrieval.evaluation import QueryResult, recall_curve, summarize
from retrieval.report import Run, write_report

pytestmark = pytest.mark.unit
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}}
QUERIES = {"q1": "annual leave", "q2": "노트북 | 분실"}


def runs() -> list[Run]:
    ours = [QueryResult("q1", ["d1", "d9"], 3.0), QueryResult("q2", ["d3", "d2"], 5.0)]
    base = [QueryResult("q1", ["d9", "d1"], 9.0), QueryResult("q2", ["d8"], 7.0)]
    return [
        Run("sillok hybrid", ours, summarize(ours, QRELS)),
        Run("langchain", base, summarize(base, QRELS)),
    ]


def test_recall_curve_rises_to_the_share_found() -> None:
    assert recall_curve(runs()[1].results, QRELS, 3) == [0.0, 0.5, 0.5]


def test_markdown_report_has_summary_plot_and_per_query_rows(tmp_path: Path) -> None:
    write_report(tmp_path / "r.md", "SciFact", runs(), QUERIES, QRELS, ["measured here"])
    text = (tmp_path / "r.md").read_text()
    assert "| sillok hybrid | 1.0 |" in text and "![Recall@k](r.png)" in text
    assert "노트북 \\| 분실" in text and "langchain first hit" in text
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_html_report_is_one_file(tmp_path: Path) -> None:
    write_report(tmp_path / "r.html", "KorQuAD <dev>", runs(), QUERIES, QRELS)
    text = (tmp_path / "r.html").read_text()
    assert "KorQuAD &lt;dev&gt;" in text and "data:image/png;base64," in text
    assert text.count("<tr>") == (1 + 2) * 2 and not (tmp_path / "r.png").exists()
