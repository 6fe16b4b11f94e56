"""The labelled (sentence, passages, supported?) pairs that the verifier is calibrated and measured on.

Built in memory from the shared evaluation sets, deterministically for a seed:

- supported: gold answer sentences with their own passages. English: ASQA long-form answers
  (only sentences whose content terms are at least `MIN_GOLD_COVERAGE` in the contexts and whose
  facts all appear there: ASQA's answers partly draw on text outside the given contexts) and BIPIA
  e-mail amounts written as a sentence from the question; Korean: Allganize RAG long-form answers
  against their gold page (by terms only, so that the fact check's false alarms on real answers
  count against recall) and the KorQuAD paragraph sentence holding the answer.
- unsupported, as many again: half the same sentences against the passages of the most similar
  other item of the same data set (a topical distractor), half with one number, date or name
  changed (the KorQuAD answer itself, elsewhere a fact found by `retrieval.claims`).

Pairs are split by item into calibration and held-out halves, so a sentence and its negatives
stay on one side. KorQuAD is CC BY-ND: its text is only read here, never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval import claims
from retrieval.language import Language
from retrieval.verify import COSINE_FLOOR, Model, Signals, answer_sentences, combine, content_terms

MIN_GOLD_COVERAGE = 0.6  # ASQA and Allganize gold sentences kept as supported
MIN_TERMS = 3  # sentences with fewer content terms are too slight to label
MIN_PRECISION = 0.9  # a "supported" verdict is what lets a reader rely on a sentence
KORQUAD_ITEMS = 400  # KorQuAD's sentences are verbatim; keep them from outweighing Allganize


@dataclass(frozen=True)
class Pair:
    """One labelled case: does `passages` (all cited) support `sentence`?"""

    sentence: str
    passages: tuple[str, ...]
    supported: bool
    language: Language
    dataset: str
    kind: str  # "gold", "distractor" or "perturbed"
    group: str  # the item it came from; the split keeps a group on one side


@dataclass(frozen=True)
class _Gold:
    sentence: str
    passages: tuple[str, ...]
    group: str
    answer: str | None = None  # the exact answer span inside the sentence (KorQuAD)
    document: str = ""  # the source file: a distractor comes from another one


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _supported_enough(sentence: str, passages: tuple[str, ...], facts: bool = True) -> bool:
    """Whether a gold sentence is stated by its passages closely enough to be labelled supported
    (by its terms, and with `facts` by its facts too)."""
    wanted = content_terms(sentence)
    if len(wanted) < MIN_TERMS:
        return False
    covered = len(wanted & _passage_terms(passages)) / len(wanted) >= MIN_GOLD_COVERAGE
    return covered and not (facts and claims.missing(sentence, claims.evidence(passages)))


def _asqa(folder: Path) -> list[_Gold]:
    out: list[_Gold] = []
    for item in _jsonl(folder / "qa.jsonl"):
        passages = tuple(str(c) for c in item["contexts"])  # type: ignore[attr-defined]
        seen: set[str] = set()
        for answer in item["gold_answers"]:  # type: ignore[attr-defined]
            for sentence, _ in answer_sentences(str(answer)):
                if sentence not in seen and _supported_enough(sentence, passages):
                    seen.add(sentence)
                    out.append(_Gold(sentence, passages, f"asqa:{item['id']}"))
    return out


def _bipia(folder: Path) -> list[_Gold]:
    out: list[_Gold] = []
    for item in _jsonl(folder / "qa.jsonl"):
        answer = str(item["gold_answer"]).strip()
        if answer.lower() == "unknown":
            continue
        match = re.search(r"Find the \$ value (paid (?:to|by) .+?)\?", str(item["question"]))
        if not match:
            continue
        sentence = f"The amount {match.group(1)} was {answer}."
        out.append(_Gold(sentence, (str(item["context"]),), f"bipia:{item['id']}"))
    return out


def _allganize(folder: Path) -> list[_Gold]:
    pages = {str(d["id"]): str(d["text"]) for d in _jsonl(folder / "corpus.jsonl")}
    out: list[_Gold] = []
    for item in _jsonl(folder / "answers.jsonl"):
        passages = tuple(pages[str(d)] for d in item["gold_doc_ids"] if str(d) in pages)  # type: ignore[attr-defined]
        if not passages:
            continue
        files = ",".join(sorted(str(s).rsplit(" - ", 1)[0] for s in item.get("gold_source_ids") or []))  # type: ignore[attr-defined]
        for answer in item["answers"]:  # type: ignore[attr-defined]
            for sentence, _ in answer_sentences(str(answer)):
                if _supported_enough(sentence, passages, facts=False):  # the fact check is measured
                    out.append(_Gold(sentence, passages, f"allganize:{item['id']}", document=files))
    return out


_KO_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _korquad(folder: Path, rng: random.Random) -> list[_Gold]:
    paragraphs = {str(d["id"]): str(d["text"]) for d in _jsonl(folder / "corpus.jsonl")}
    items = list(_jsonl(folder / "answers.jsonl"))
    rng.shuffle(items)
    out: list[_Gold] = []
    used: set[tuple[str, int]] = set()
    for item in items:
        text = paragraphs.get(str(item["doc_id"]))
        answer = str(item["answers"][0])  # type: ignore[index]
        start = int(item["answer_starts"][0])  # type: ignore[index]
        if text is None or text[start : start + len(answer)] != answer:
            continue
        begin = 0
        for m in _KO_SENTENCE.finditer(text):
            if m.end() > start:
                break
            begin = m.end()
        end_match = _KO_SENTENCE.search(text, start + len(answer))
        end = end_match.start() if end_match else len(text)
        if (str(item["doc_id"]), begin) in used or len(content_terms(text[begin:end])) < MIN_TERMS:
            continue
        used.add((str(item["doc_id"]), begin))
        article = str(item["doc_id"]).rsplit("-", 1)[0]
        out.append(_Gold(text[begin:end].strip(), (text,), f"korquad:{item['doc_id']}", answer, article))
        if len(out) >= KORQUAD_ITEMS:
            break
    return out


def _changed_number(written: str, rng: random.Random) -> str | None:
    """`written` with one non-zero digit changed (years by a few, so they stay plausible)."""
    digits = [i for i, c in enumerate(written) if c.isdigit()]
    if not digits:
        return None
    if re.fullmatch(r"(1[5-9]|20)\d\d", written):
        return str(int(written) + rng.choice([-3, -2, -1, 1, 2, 3]))
    position = max((i for i in digits if written[i] != "0"), default=digits[-1])
    old = int(written[position])
    new = rng.choice([d for d in range(1, 10) if d != old])
    return written[:position] + str(new) + written[position + 1 :]


def _perturb(gold: _Gold, names: list[str], articles: dict[str, set[str]], rng: random.Random) -> str | None:
    """The sentence with one fact changed so that its passages no longer state it."""
    found = claims.evidence(gold.passages)
    if gold.answer and gold.answer in gold.sentence:
        text = "\n".join(gold.passages)
        replacement = _changed_number(gold.answer, rng) if re.search(r"\d", gold.answer) else None
        if replacement is None:  # another answer from the same article, else from any
            others = [n for n in names if n not in text and not re.search(r"\d", n)]
            near = [n for n in others if gold.document in articles.get(n, ())]
            replacement = rng.choice(near or others) if others else None
        return gold.sentence.replace(gold.answer, replacement, 1) if replacement else None
    candidates = [f for f in claims.facts(gold.sentence) if claims.agrees(f, found)]
    rng.shuffle(candidates)
    for fact in candidates:
        written = fact.written(gold.sentence)
        if fact.kind == "number":
            replacement = _changed_number(written.split()[0] if " " in written else written, rng)
            if replacement is not None and not written[0].isalpha():
                head = written.split()[0] if " " in written else written
                replacement = written.replace(head, replacement, 1)
        else:
            pool = [
                n for n in names if n.lower() not in found.text and n[0].isupper() == written[0].isupper()
            ]
            replacement = rng.choice(pool) if pool else None
        if replacement is None or replacement == written:
            continue
        changed = gold.sentence[: fact.start] + replacement + gold.sentence[fact.end :]
        if claims.missing(changed, found):  # the change is one the passages contradict
            return changed
    return None


def _distractor(gold: _Gold, pool: list[_Gold]) -> tuple[str, ...] | None:
    """The passages of the other item whose terms overlap the sentence most."""
    wanted = content_terms(gold.sentence)
    best: tuple[float, tuple[str, ...]] | None = None
    for other in pool:
        same = other.group == gold.group or (gold.document and other.document == gold.document)
        if same or gold.sentence in "\n".join(other.passages):
            continue
        overlap = len(wanted & _passage_terms(other.passages)) / max(len(wanted), 1)
        if best is None or overlap > best[0]:
            best = (overlap, other.passages)
    return best[1] if best else None


_TERMS_CACHE: dict[tuple[str, ...], frozenset[str]] = {}


def _passage_terms(passages: tuple[str, ...]) -> frozenset[str]:
    if passages not in _TERMS_CACHE:
        _TERMS_CACHE[passages] = content_terms("\n".join(passages))
    return _TERMS_CACHE[passages]


def _names(golds: list[_Gold]) -> list[str]:
    """Names and answers that the perturbation can swap in."""
    out: set[str] = set()
    for gold in golds:
        if gold.answer:
            out.add(gold.answer)
        for fact in claims.facts(gold.sentence):
            if fact.kind == "name":
                out.add(fact.written(gold.sentence))
    return sorted(out)


def _language_pairs(
    golds_by_set: dict[str, list[_Gold]], language: Language, rng: random.Random
) -> list[Pair]:
    out: list[Pair] = []
    for dataset, golds in golds_by_set.items():
        names = _names(golds)
        articles: dict[str, set[str]] = {}
        for gold in golds:
            if gold.answer:
                articles.setdefault(gold.answer, set()).add(gold.document)
        pool = golds if len({g.group for g in golds}) > 1 else []
        for i, gold in enumerate(golds):
            out.append(Pair(gold.sentence, gold.passages, True, language, dataset, "gold", gold.group))
            changed = _perturb(gold, names, articles, rng) if i % 2 == 0 else None
            if changed is not None:
                out.append(Pair(changed, gold.passages, False, language, dataset, "perturbed", gold.group))
                continue
            other = _distractor(gold, pool)
            if other is not None:
                out.append(Pair(gold.sentence, other, False, language, dataset, "distractor", gold.group))
    return out


def build(eval_dir: Path, seed: int = 7) -> list[Pair]:
    """Every labelled pair, Korean and English, in a fixed order for `seed`."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible sample, not a secret)
    english = {"asqa": _asqa(eval_dir / "rag_qa_asqa"), "bipia": _bipia(eval_dir / "rag_qa_bipia_email")}
    korean = {
        "allganize": _allganize(eval_dir / "ko_rag_allganize"),
        "korquad": _korquad(eval_dir / "korquad_v1_dev", rng),
    }
    return _language_pairs(english, "en", rng) + _language_pairs(korean, "ko", rng)


def held_out(pair: Pair, seed: int = 7) -> bool:
    """Whether the pair belongs to the held-out half (by its group, so deterministically)."""
    return hashlib.sha256(f"{seed}:{pair.group}".encode()).digest()[0] % 2 == 1


def split(pairs: list[Pair], seed: int = 7) -> tuple[list[Pair], list[Pair]]:
    """The calibration and held-out halves."""
    return [p for p in pairs if not held_out(p, seed)], [p for p in pairs if held_out(p, seed)]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of "supported" verdicts on a set of pairs."""

    precision: float
    recall: float
    f1: float
    pairs: int

    def as_dict(self) -> dict[str, float | int]:
        """Rounded, for reports."""
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "pairs": self.pairs,
        }


def scores(predicted: Sequence[bool], labels: Sequence[bool]) -> Scores:
    """How the verdicts compare with the labels."""
    hits = sum(p and y for p, y in zip(predicted, labels, strict=True))
    precision = hits / max(sum(predicted), 1)
    recall = hits / max(sum(labels), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, len(labels))


def _features(signals: Signals, use_cosine: bool) -> list[float]:
    cosine = max(0.0, (signals.cosine - COSINE_FLOOR) / (1.0 - COSINE_FLOOR)) if use_cosine else 0.0
    return [signals.coverage, signals.window, cosine, 1.0]


def _logistic(rows: list[list[float]], labels: list[bool], iterations: int = 40) -> list[float]:
    """Weights by Newton's method with a little L2 (the columns are few and bounded)."""
    x = np.array(rows)
    y = np.array(labels, dtype=float)
    w = np.zeros(x.shape[1])
    ridge = 1e-2 * np.eye(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        gradient = x.T @ (p - y) + ridge @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge
        w -= np.linalg.solve(hessian, gradient)
    return [float(v) for v in w]


def calibrate(
    signals: Sequence[Signals],
    labels: Sequence[bool],
    use_cosine: bool,
    languages: Sequence[str] | None = None,
    min_precision: float = MIN_PRECISION,
) -> Model:
    """The support model fitted on calibration pairs, and its threshold.

    The weights are fitted on the pairs whose facts all agree (the fact penalty decides the
    others); a negative similarity weight is dropped. The threshold is the one with the best F1
    among those reaching `min_precision` in every language (the best F1 when none does).
    """
    languages = languages or ["any"] * len(labels)
    agreeing = [i for i, s in enumerate(signals) if s.missing == 0]
    rows = [_features(signals[i], use_cosine) for i in agreeing]
    wanted = [labels[i] for i in agreeing]
    w = _logistic(rows, wanted)
    if w[2] < 0 or not use_cosine:
        w = _logistic([[r[0], r[1], r[3]] for r in rows], wanted)
        w = [w[0], w[1], 0.0, w[2]]
    model = Model(coverage=w[0], window=w[1], cosine=w[2], bias=w[3], threshold=0.5)
    support = [combine(s, model) for s in signals]
    best: tuple[bool, float, float] | None = None
    for step in range(5, 96):
        threshold = step / 100
        result = scores([v >= threshold for v in support], list(labels))
        precise = all(
            scores(
                [v >= threshold for v, lang in zip(support, languages, strict=True) if lang == language],
                [y for y, lang in zip(labels, languages, strict=True) if lang == language],
            ).precision
            >= min_precision
            for language in set(languages)
        )
        key = (precise, result.f1, -threshold)
        if best is None or key > best:
            best = key
    assert best is not None
    return Model(w[0], w[1], w[2], w[3], round(-best[2], 2))
