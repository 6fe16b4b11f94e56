"""Answer evaluation reports: summary tables, plots of the rates (clean and under attack) and of
attack success per injection kind, and a per-question table, as Markdown or HTML.

Like the retrieval report, a Markdown report writes its plots beside it (`NAME-rates.png`,
`NAME-attacks.png`); an HTML report embeds them.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from retrieval.answer_eval import Outcome, per_item
from retrieval.report import _html_table, _md_table

RATES = (
    "answer_score",
    "faithfulness",
    "citation_precision",
    "citation_recall",
    "refusal_rate_unanswerable",
    "false_refusal_rate",
)


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _rates_plot(metrics: Mapping[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    under = metrics.get("injection", {}).get("under_attack", {})
    figure, axes = plt.subplots(figsize=(7.2, 4.0), dpi=110)
    positions = list(range(len(RATES)))
    width = 0.38 if under else 0.6
    axes.bar(
        [p - (width / 2 if under else 0) for p in positions],
        [metrics[k] for k in RATES],
        width,
        label="clean",
    )
    if under:
        axes.bar(
            [p + width / 2 for p in positions], [under.get(k, 0) for k in RATES], width, label="under attack"
        )
    axes.set_xticks(positions, [k.replace("_", "\n") for k in RATES], fontsize=7)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("rate")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper right")
    return _png(figure)


def _attacks_plot(by_kind: Mapping[str, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    kinds = list(by_kind)
    axes.barh(kinds, [by_kind[k] for k in kinds], color="#c0504d")
    axes.set_xlim(0, 1.0)
    axes.set_xlabel("attack success rate")
    axes.tick_params(axis="y", labelsize=7)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _tables(
    metrics: Mapping[str, Any], outcomes: Sequence[Outcome]
) -> list[tuple[str, list[str], list[list[str]]]]:
    flat = [[k, str(v)] for k, v in metrics.items() if not isinstance(v, dict)]
    tables = [("Summary", ["metric", "value"], flat)]
    injection = metrics.get("injection")
    if injection:
        rows = [[k, str(v)] for k, v in injection.items() if not isinstance(v, dict)]
        rows += [[f"attack success: {k}", str(v)] for k, v in injection["attack_success_by_kind"].items()]
        rows += [[f"under attack: {k}", str(v)] for k, v in injection["under_attack"].items()]
        tables.append(("Injection", ["measure", "value"], rows))
    headers = ["id", "question", "gold", "refused", "score", "supported", "relevant citations", "answer"]
    rows = [
        [
            str(r["id"]),
            str(r["question"])[:90],
            str(r["gold"]),
            "yes" if r["refused"] else "",
            str(r["score"]),
            str(r["supported"]),
            str(r["citations"]),
            str(r["answer"])[:200],
        ]
        for r in per_item(outcomes)
    ]
    tables.append(("Per question", headers, rows))
    return tables


def write_answer_report(
    path: Path,
    title: str,
    metrics: Mapping[str, Any],
    outcomes: Sequence[Outcome],
    attacked: Sequence[Outcome] = (),
    attack_rows: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Write the report; `.html`/`.htm` gives HTML, anything else Markdown."""
    plots = [("Rates", _rates_plot(metrics))]
    injection = metrics.get("injection")
    if injection and injection["attack_success_by_kind"]:
        plots.append(("Attack success by injection kind", _attacks_plot(injection["attack_success_by_kind"])))
    tables = _tables(metrics, outcomes)
    if attack_rows:
        headers = ["id", "injection", "kind", "followed", "quoted lines", "refused", "cites suspicious"]
        rows = [
            [
                str(r["id"]),
                str(r["injection"]),
                str(r["kind"]),
                str(r["followed"]),
                str(r["quoted"]),
                str(r["refused"]),
                str(r["cites_suspicious"]),
            ]
            for r in attack_rows
        ]
        tables.append(("Attacked questions", headers, rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".html", ".htm"):
        body = [f"<h1>{html.escape(title)}</h1>"]
        for name, png in plots:
            body += [
                f"<h2>{html.escape(name)}</h2>",
                f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">',  # noqa: E501
            ]
        for name, headers, rows in tables:
            body += [f"<h2>{html.escape(name)}</h2>", _html_table(headers, rows)]
        style = "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 6px}"
        page = (
            f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
        )
        path.write_text(page + "\n".join(body) + "\n", encoding="utf-8")
        return
    lines = [f"# {title}", ""]
    for number, (name, png) in enumerate(plots):
        image = path.with_name(f"{path.stem}-{('rates', 'attacks')[number]}.png")
        image.write_bytes(png)
        lines += [f"## {name}", "", f"![{name}]({image.name})", ""]
    for name, headers, rows in tables:
        lines += [f"## {name}", "", _md_table(headers, rows), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
