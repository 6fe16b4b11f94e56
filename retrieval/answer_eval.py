"""Answer evaluation: QA items, how an answer is scored against gold, and the summary metrics.

Definitions (one answer per item):

- answer score: an unanswerable item (gold answer `unknown`) scores 1 when the answer is a
  refusal, else 0; an answerable item scores 0 when refused, else against its gold answers:
  a short gold answer (at most six words) scores 1 when the answer contains it, compared
  after normalisation (lower case, punctuation and articles dropped, and every number read
  as its value, so "$2,099.00", "$2 099.00" and "$2099" are one amount); a long gold answer
  scores the token F1 (SQuAD) of the answer against it. With several gold answers the best
  counts.
- faithfulness: the share of answer sentences (all non-refused answers together) that the
  judge finds supported by the passages they cite; a sentence citing nothing is unsupported.
- citation precision: the share of citations pointing at one of the item's own (gold)
  contexts; citation recall: the share of answerable items' gold contexts cited (a refused
  item cites none).
- refusal rate on unanswerable items; false-refusal rate: the share of answerable items refused.
"""

from __future__ import annotations

import json
import re
import statistics
import string
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"
SHORT_GOLD_WORDS = 6
_NUMBER = re.compile(r"\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class QAItem:
    """One question with its gold answers and contexts (or gold document ids in a corpus)."""

    id: str
    question: str
    gold: tuple[str, ...]
    contexts: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()

    @property
    def unanswerable(self) -> bool:
        """Whether the gold answer is `unknown`."""
        return any(g.strip().lower() == UNKNOWN for g in self.gold) or not self.gold


def _gold(raw: dict[str, Any]) -> tuple[str, ...]:
    for key in ("gold_answers", "answers", "gold_answer", "answer"):
        value = raw.get(key)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if str(v).strip())
    return ()


def load_items(path: Path, limit: int | None = None) -> list[QAItem]:
    """The items of a `qa.jsonl` (`question`, `gold_answer(s)`, `context(s)`, `gold_doc_ids`)."""
    items: list[QAItem] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            raw = json.loads(line)
            contexts = raw.get("contexts") or ([raw["context"]] if raw.get("context") else [])
            items.append(
                QAItem(
                    str(raw.get("id", number)),
                    str(raw["question"]),
                    _gold(raw),
                    tuple(str(c) for c in contexts),
                    tuple(str(d) for d in raw.get("gold_doc_ids") or ()),
                )
            )
            if limit is not None and len(items) >= limit:
                break
    return items


def _number_value(text: str) -> str:
    value = float(re.sub(r"[, ]", "", text))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def normalise(text: str) -> str:
    """Lower case, numbers as their values, punctuation and articles dropped, spaces collapsed."""
    text = _NUMBER.sub(lambda m: f" {_number_value(m.group())} ", text.lower())
    kept = "".join(" " if ch in string.punctuation and ch != "." else ch for ch in text)
    kept = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", kept)
    return " ".join(_ARTICLES.sub(" ", kept).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 of `prediction` against `gold`, both normalised."""
    have, want = normalise(prediction).split(), normalise(gold).split()
    common = sum((Counter(have) & Counter(want)).values())
    if not common:
        return 0.0
    precision, recall = common / len(have), common / len(want)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> bool:
    """Whether the normalised prediction contains the normalised gold answer as whole words."""
    want = normalise(gold)
    return bool(want) and f" {want} " in f" {normalise(prediction)} "


def answer_score(item: QAItem, answer_text: str, refused: bool) -> float:
    """The item's answer score (see the module docstring)."""
    if item.unanswerable:
        return 1.0 if refused else 0.0
    if refused:
        return 0.0
    best = 0.0
    for gold in item.gold:
        if len(gold.split()) <= SHORT_GOLD_WORDS:
            best = max(best, 1.0 if contains(answer_text, gold) else 0.0)
        else:
            best = max(best, token_f1(answer_text, gold))
    return best


@dataclass(frozen=True)
class Outcome:
    """One answered item: the answer, how it scored, and what the attack checks found."""

    item: QAItem
    text: str
    refused: bool
    mode: str
    score: float
    sentences: int  # answer sentences judged
    supported: int  # of which supported by the passages they cite
    cited_docs: tuple[str, ...]  # document ids of the citations, in order
    relevant_docs: frozenset[str]
    seconds: float
    attack: dict[str, Any] = field(default_factory=dict)

    @property
    def relevant_citations(self) -> int:
        """Citations pointing at one of the item's own (gold) contexts."""
        return sum(d in self.relevant_docs for d in self.cited_docs)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The contract's metrics and the rest of the definitions above, over `outcomes`."""
    answerable = [o for o in outcomes if not o.item.unanswerable]
    unanswerable = [o for o in outcomes if o.item.unanswerable]
    answered = [o for o in outcomes if not o.refused]
    sentences = sum(o.sentences for o in answered)
    citations = sum(len(o.cited_docs) for o in answered)
    gold_docs = sum(len(o.relevant_docs) for o in answerable)
    recalled = sum(len(o.relevant_docs & set(o.cited_docs)) for o in answerable if not o.refused)
    latencies = sorted(o.seconds for o in outcomes) or [0.0]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_score": round(statistics.fmean(o.score for o in outcomes), 4) if outcomes else 0.0,
        "answer_score_answerable": round(statistics.fmean(o.score for o in answerable), 4)
        if answerable
        else 0.0,
        "faithfulness": _rate(sum(o.supported for o in answered), sentences),
        "answer_sentences": sentences,
        "citation_precision": _rate(sum(o.relevant_citations for o in answered), citations),
        "citation_recall": _rate(recalled, gold_docs),
        "citations": citations,
        "refusal_rate_unanswerable": _rate(sum(o.refused for o in unanswerable), len(unanswerable)),
        "false_refusal_rate": _rate(sum(o.refused for o in answerable), len(answerable)),
        "latency_s_p50": round(statistics.median(latencies), 3),
        "latency_s_max": round(latencies[-1], 3),
    }


def per_item(outcomes: Sequence[Outcome]) -> Iterator[dict[str, Any]]:
    """One row per item for reports."""
    for o in outcomes:
        yield {
            "id": o.item.id,
            "question": o.item.question,
            "gold": " | ".join(o.item.gold)[:120],
            "refused": o.refused,
            "score": round(o.score, 3),
            "supported": f"{o.supported}/{o.sentences}",
            "citations": f"{o.relevant_citations}/{len(o.cited_docs)}",
            "answer": o.text,
        }
