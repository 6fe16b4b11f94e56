"""Extractive answers for deployments without a language model: the sentences of the retrieved
passages that answer the question, each quoted with its citation, or nothing (a refusal).

A sentence answers only when it passes the checks of `retrieval.answer_types`, which follow the
question rather than any one document collection:

1. Answer type: a question asking for a money amount, a date, a number or a name is answered
   only by a sentence holding such a value that the question does not already contain.
2. Key entities: every proper noun of the question must be named by the sentence or by its
   passage's heading (the title and first line, such as an e-mail's subject and sender), which
   scopes over the sentences below it; a sentence naming them itself ranks first.
3. Direction: when the question says who paid or who was paid ("paid to X", "paid by X"), a
   sentence that gives X the other role, or names someone else in that role, is left out; and
   when a sentence of a passage names X in the other role, the passage's sentences that do not
   name X are not taken as answering for it either.
4. Coverage: without both a typed value and a key entity to go on, a sentence must share at
   least a third of the question's terms (a quarter when it holds the asked type of value),
   counted with the keyword search's own analyzer (Kiwi for Korean).

When no sentence passes, the answer is a refusal: an extract that only shares the question's
words is not an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.lexical import terms
from core.types import ScoredChunk
from retrieval.answer_types import Focus, contradicts, focus, new_values
from retrieval.language import Language, say
from retrieval.markers import neutralise

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)")
_FIELD = re.compile(r"\s*\|\s*")  # "SUBJECT: …|FROM: …": fields of a header line
MIN_COVERAGE = 0.34
MIN_TYPED_COVERAGE = 0.25  # the asked type of value in the sentence is evidence of its own
MAX_SENTENCES = 3
MIN_WORDS = 4
MAX_WORDS = 80  # a longer "sentence" is a run-on block (a table, a list without punctuation)
_SCORE_SPREAD = 0.5  # sentences scoring below this share of the best one are left out


@dataclass(frozen=True)
class Extract:
    """One sentence taken from source number `n` (1-based)."""

    n: int
    sentence: str
    coverage: float


def _pieces(text: str) -> list[str]:
    """Lines split into sentences and header fields; blank lines end a paragraph ("" marks it)."""
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        for field in _FIELD.split(line):
            out.extend(s.strip().lstrip("#>*-• ").strip() for s in _SENTENCE_END.split(field) if s.strip())
    return out


def sentences(text: str) -> list[str]:
    """Sentences of a passage (Korean and English punctuation, line breaks, header fields).

    A piece shorter than four words (a label such as "Total paid" laid out above its value) is
    joined with the pieces after it in the same paragraph until the words reach four; what stays
    shorter is left out, and so are run-on blocks of more than 80 words.
    """
    out: list[str] = []
    pending: list[str] = []
    for piece in [*_pieces(text), ""]:
        if not piece:
            pending = []
            continue
        pending.append(piece)
        joined = " ".join(pending)
        if len(joined.split()) >= MIN_WORDS:
            if len(joined.split()) <= MAX_WORDS:
                out.append(re.sub(r"\s{2,}", " ", joined))
            pending = []
    return out


def _coverage(asked: Focus, found: set[str]) -> float:
    wanted = asked.question_terms
    return len(wanted & found) / len(wanted) if wanted else 0.0


def _floor(asked: Focus) -> float:
    return MIN_TYPED_COVERAGE if asked.answer_type else MIN_COVERAGE


def _passage_extracts(asked: Focus, hit: ScoredChunk, n: int) -> list[tuple[float, Extract]]:
    """The sentences of source `n` that answer, each with its score (higher is better)."""
    text = hit.chunk.text
    heading = set(terms(f"{hit.chunk.title}\n{text.lstrip().split(chr(10), 1)[0]}"))
    candidates: list[tuple[float, Extract, bool]] = []
    vetoed = False
    for position, sentence in enumerate(sentences(text)):
        found = set(terms(sentence))
        named = [e for e in asked.entities if e.terms <= found]
        if any(contradicts(sentence, e) for e in named):
            vetoed = True  # the passage itself gives the entity the other role
            continue
        if any(contradicts(sentence, e) for e in asked.entities):
            continue  # someone else in the asked role
        if asked.answer_type and not new_values(asked.answer_type, sentence, asked.question):
            continue
        if any(not e.terms <= found | heading for e in asked.entities):
            continue
        coverage = _coverage(asked, found)
        if not (asked.answer_type and asked.entities) and coverage < _floor(asked):
            continue
        share = len(named) / len(asked.entities) if asked.entities else 0.0
        # Prefer sentences naming the entities, then coverage, better-ranked sources, earlier sentences.
        score = 1.0 + share + coverage - 0.02 * n - 0.001 * position
        candidates.append((score, Extract(n, sentence, coverage), len(named) == len(asked.entities)))
    return [(score, extract) for score, extract, names_all in candidates if names_all or not vetoed]


def best_sentences(question: str, hits: Sequence[ScoredChunk]) -> list[Extract]:
    """Up to three sentences that answer the question (see the module docstring), in source order."""
    asked = focus(question)
    if not asked.question_terms and not asked.entities:
        return []
    scored: list[tuple[float, Extract]] = []
    seen: set[str] = set()
    for n, hit in enumerate(hits, start=1):
        for score, extract in _passage_extracts(asked, hit, n):
            if extract.sentence not in seen:
                seen.add(extract.sentence)
                scored.append((score, extract))
    if not scored:
        return []
    scored.sort(key=lambda item: item[0], reverse=True)
    floor = scored[0][0] * _SCORE_SPREAD
    chosen = [extract for score, extract in scored[:MAX_SENTENCES] if score >= floor]
    return sorted(chosen, key=lambda e: e.n)


def render(extracts: Sequence[Extract], language: Language | None = None) -> str:
    """Each sentence quoted with its citation; with a `language`, after the label in it
    (`say("extracted", language)`). The answer service renders without one and adds the label
    after verification, so the label is not checked as a claim."""
    quoted = "\n>\n".join(f"> {neutralise(e.sentence)} [{e.n}]" for e in extracts)
    return quoted if language is None else f"{say('extracted', language)}\n\n{quoted}"
