"""Evaluation reports: a summary table, a Recall@k plot and a per-query table, as Markdown or HTML.

A Markdown report writes its plot beside it (`NAME.png`); an HTML report embeds the plot, so
the single file can be mailed or attached to a ticket.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.evaluation import QueryResult, per_query, recall_curve

_SUMMARY_KEYS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "mrr@10", "latency_ms_p50", "latency_ms_p95")
_CURVE_DEPTH = 20


@dataclass(frozen=True)
class Run:
    """One configuration's results: its label, per-query results and summary metrics."""

    label: str
    results: Sequence[QueryResult]
    metrics: Mapping[str, object]


def _plot(runs: Sequence[Run], qrels: dict[str, dict[str, int]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ks = list(range(1, _CURVE_DEPTH + 1))
    for run in runs:
        axes.plot(
            ks, recall_curve(run.results, qrels, _CURVE_DEPTH), marker="o", markersize=3, label=run.label
        )
    axes.set_xlabel("k (documents)")
    axes.set_ylabel("Recall@k")
    axes.set_ylim(0, 1.02)
    axes.set_xticks([1, 5, 10, 15, 20])
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _rows(
    runs: Sequence[Run], queries: Mapping[str, str], qrels: dict[str, dict[str, int]]
) -> list[list[str]]:
    scored = [per_query(run.results, qrels) for run in runs]
    rows = []
    for r in runs[0].results:
        cells = [r.query_id, queries.get(r.query_id, "")[:90]]
        for table in scored:
            q = table.get(r.query_id)
            cells += (
                [f"{q['ndcg@10']:.3f}", f"{q['recall@5']:.2f}", str(int(q["first_relevant"]) or "–")]
                if q
                else ["", "", ""]
            )
        rows.append(cells)
    return rows


def _headers(runs: Sequence[Run]) -> list[str]:
    headers = ["query", "text"]
    for run in runs:
        headers += [f"{run.label} nDCG@10", f"{run.label} R@5", f"{run.label} first hit"]
    return headers


def _summary(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    headers = ["configuration", *_SUMMARY_KEYS]
    return headers, [[run.label, *(str(run.metrics.get(k, "")) for k in _SUMMARY_KEYS)] for run in runs]


def write_report(
    path: Path,
    title: str,
    runs: Sequence[Run],
    queries: Mapping[str, str],
    qrels: dict[str, dict[str, int]],
    notes: Sequence[str] = (),
) -> None:
    """Write the report; `.html`/`.htm` gives HTML, anything else Markdown."""
    plot = _plot(runs, qrels)
    summary_headers, summary = _summary(runs)
    headers, rows = _headers(runs), _rows(runs, queries, qrels)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".html", ".htm"):
        image = f'<img alt="Recall@k" src="data:image/png;base64,{base64.b64encode(plot).decode()}">'
        body = [f"<h1>{html.escape(title)}</h1>", *(f"<p>{html.escape(n)}</p>" for n in notes)]
        body += [_html_table(summary_headers, summary), "<h2>Recall@k</h2>", image]
        body += ["<h2>Per query</h2>", _html_table(headers, rows)]
        style = "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 6px}"
        page = (
            f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
        )
        path.write_text(page + "\n".join(body) + "\n", encoding="utf-8")
        return
    image_path = path.with_suffix(".png")
    image_path.write_bytes(plot)
    lines = [f"# {title}", "", *(f"{n}\n" for n in notes), _md_table(summary_headers, summary), ""]
    lines += ["## Recall@k", "", f"![Recall@k]({image_path.name})", "", "## Per query", ""]
    lines += [_md_table(headers, rows), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
