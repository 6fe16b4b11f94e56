"""`sillok eval verifier`: calibrate the answer verifier and measure it on held-out pairs.

Builds the labelled pairs of `retrieval.verifier_set` from the shared evaluation sets, measures
every pair's signals with the configured embedder, fits the support model on the calibration
half and reports precision, recall and F1 on the held-out half, Korean and English apart: for
the shipped model (`retrieval.verify.WITH_EMBEDDER`, and `LEXICAL_ONLY` without an embedder) and
for the one fitted in this run. It also times `Verifier.verify` on answers of four sentences
over five passages.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.ports import Embedder
from core.types import Chunk, ScoredChunk
from retrieval.verifier_set import Pair, Scores, build, calibrate, held_out, scores
from retrieval.verify import LEXICAL_ONLY, WITH_EMBEDDER, Model, Signals, Verifier, combine
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err, progress

_LANGUAGES = ("en", "ko")
_ANSWERS = 40  # answers timed per language
_SENTENCES, _PASSAGES = 4, 5


def _default_eval_dir() -> Path:
    shared = os.environ.get("SILLOK_SHARED_DATA")
    return (
        Path(shared) / "eval" if shared else Path(__file__).resolve().parents[3] / "shared" / "data" / "eval"
    )


def _subset(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """At most `limit` pairs per language, drawn by item so that each keeps its negatives."""
    if limit is None:
        return pairs
    out: list[Pair] = []
    for language in _LANGUAGES:
        groups = sorted({p.group for p in pairs if p.language == language})
        random.Random(seed).shuffle(groups)  # noqa: S311 (a reproducible sample)
        chosen: set[str] = set()
        count = 0
        for group in groups:
            if count >= limit:
                break
            chosen.add(group)
            count += sum(1 for p in pairs if p.group == group)
        out += [p for p in pairs if p.language == language and p.group in chosen]
    return out


def _report(model: Model, signals: Sequence[Signals], pairs: Sequence[Pair]) -> dict[str, Scores]:
    out: dict[str, Scores] = {}
    for language in _LANGUAGES:
        chosen = [i for i, p in enumerate(pairs) if p.language == language and held_out(p)]
        verdicts = [combine(signals[i], model) >= model.threshold for i in chosen]
        out[language] = scores(verdicts, [pairs[i].supported for i in chosen])
    return out


def _source(n: int, text: str) -> ScoredChunk:
    return ScoredChunk(Chunk(f"eval-{n}", "v", 0, text, f"source {n}", frozenset({"eval"})), 1.0)


def _timed_answers(pairs: Sequence[Pair], seed: int) -> list[tuple[str, list[ScoredChunk]]]:
    """Answers of `_SENTENCES` held-out gold sentences, each citing its own passage, among five."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible sample)
    out: list[tuple[str, list[ScoredChunk]]] = []
    for language in _LANGUAGES:
        gold = [p for p in pairs if p.language == language and p.kind == "gold" and held_out(p)]
        if len(gold) < _PASSAGES:
            continue
        for _ in range(_ANSWERS):
            picked = rng.sample(gold, _PASSAGES)
            sources = [_source(n, " ".join(p.passages)) for n, p in enumerate(picked, start=1)]
            answer = " ".join(f"{p.sentence} [{n}]" for n, p in enumerate(picked[:_SENTENCES], start=1))
            out.append((answer, sources))
    return out


def _latency(
    verifier: Verifier, answers: Sequence[tuple[str, list[ScoredChunk]]], label: str
) -> tuple[float, float]:
    """p50 and p95 milliseconds of one `verify` call."""
    if not answers:
        return 0.0, 0.0
    verifier.verify(*answers[0])  # warm caches and the model
    times: list[float] = []
    with progress() as bar:
        task = bar.add_task(label, total=len(answers))
        for answer, sources in answers:
            start = time.perf_counter()
            verifier.verify(answer, sources)
            times.append((time.perf_counter() - start) * 1000)
            bar.advance(task)
    times.sort()
    return round(statistics.median(times), 1), round(times[int(0.95 * (len(times) - 1))], 1)


def _measure(embedder: Embedder | None, pairs: list[Pair]) -> list[Signals]:
    verifier = Verifier(embedder)
    out: list[Signals] = []
    with progress() as bar:
        task = bar.add_task("Measuring pairs", total=len(pairs))
        for pair in pairs:
            out.append(verifier.signals(pair.sentence, pair.passages))
            bar.advance(task)
    return out


def _table(title: str, results: dict[str, dict[str, Scores]]) -> Table:
    table = Table(title=title)
    for column in ("model", "language", "precision", "recall", "F1", "held-out pairs"):
        table.add_column(column, justify="left" if column in ("model", "language") else "right")
    for name, by_language in results.items():
        for language, s in by_language.items():
            table.add_row(
                name, language, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.pairs)
            )
    return table


def _model_dict(model: Model) -> dict[str, float]:
    return {k: round(v, 3) for k, v in asdict(model).items()}


def eval_verifier(
    limit: Annotated[
        int | None, typer.Option(min=10, help="About N pairs per language (whole items).")
    ] = None,
    eval_dir: Annotated[
        Path | None, typer.Option(help="The shared evaluation sets (default: ../shared/data/eval).")
    ] = None,
    lexical: Annotated[bool, typer.Option(help="Also measure the verifier without an embedder.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the pairs and the split.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Calibrate the verifier on half of the labelled pairs and report the other half, ko and en."""
    folder = eval_dir or _default_eval_dir()
    if not folder.is_dir():
        raise typer.BadParameter(f"no evaluation sets at {folder}", param_hint="--eval-dir")
    container = build_cli()
    embedder = container.embedder
    err.print("Building the labelled pairs…")
    pairs = _subset(build(folder, seed), limit, seed)
    signals = _measure(embedder, pairs)
    calibration = [i for i, p in enumerate(pairs) if not held_out(p)]
    labels = [pairs[i].supported for i in calibration]
    languages = [pairs[i].language for i in calibration]
    refit = calibrate([signals[i] for i in calibration], labels, True, languages)
    results = {"shipped": _report(WITH_EMBEDDER, signals, pairs), "refit": _report(refit, signals, pairs)}
    metrics: dict[str, object] = {k: v.as_dict() for k, v in results["shipped"].items()}
    metrics.update(
        threshold=WITH_EMBEDDER.threshold, model=_model_dict(WITH_EMBEDDER), embedder=embedder.name
    )
    metrics["refit"] = {"model": _model_dict(refit)} | {k: v.as_dict() for k, v in results["refit"].items()}
    if lexical:
        plain = [replace_cosine(s) for s in signals]
        lexical_refit = calibrate([plain[i] for i in calibration], labels, False, languages)
        results["lexical only"] = _report(LEXICAL_ONLY, plain, pairs)
        metrics["lexical_only"] = {
            "model": _model_dict(LEXICAL_ONLY),
            "refit": _model_dict(lexical_refit),
        } | {k: v.as_dict() for k, v in results["lexical only"].items()}
    answers = _timed_answers(pairs, seed)
    p50, p95 = _latency(Verifier(embedder), answers, "Timing answers")
    every_p50, _ = _latency(Verifier(embedder, embed_all=True), answers, "Timing (every sentence)")
    metrics.update(
        ms_per_answer_p50=p50, ms_per_answer_p95=p95, ms_per_answer_p50_embedding_every_sentence=every_p50
    )
    metrics["answers_timed"] = len(answers)
    metrics["calibration_pairs"] = len(calibration)
    metrics["pairs_by_kind"] = {
        f"{lang}/{dataset}/{kind}": n
        for (lang, dataset, kind), n in sorted(
            Counter((p.language, p.dataset, p.kind) for p in pairs).items()
        )
    }
    container.close()
    if as_json:
        emit_json(metrics)
        return
    Console().print(_table(f"Verifier on held-out pairs (threshold {WITH_EMBEDDER.threshold})", results))
    typer.echo(f"refit model: {_model_dict(refit)}")
    typer.echo(f"verify latency: p50 {p50} ms, p95 {p95} ms ({every_p50} ms p50 embedding every sentence)")


def replace_cosine(signals: Signals) -> Signals:
    """`signals` without the similarity, as the verifier without an embedder sees them."""
    return Signals(signals.coverage, signals.window, 0.0, signals.missing, signals.facts)
