"""Extractive answers for deployments without a language model: the best supporting sentences
from the retrieved passages, each cited, and labelled as extracted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.lexical import terms
from core.types import ScoredChunk
from retrieval.markers import neutralise

EXTRACTED_LABEL = "Extracted from your documents (no language model is configured):"
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)|\n+")
MIN_COVERAGE = 0.34
MAX_SENTENCES = 3


@dataclass(frozen=True)
class Extract:
    """One sentence taken from source number `n` (1-based)."""

    n: int
    sentence: str
    coverage: float


MIN_WORDS = 4


def sentences(text: str) -> list[str]:
    """Sentences of a passage (Korean and English punctuation, line breaks); headings and
    fragments shorter than four words are left out."""
    out = []
    for piece in _SENTENCE_END.split(text):
        sentence = (piece or "").strip().lstrip("#>*- ").strip()
        if len(sentence.split()) >= MIN_WORDS:
            out.append(sentence)
    return out


def best_sentences(question: str, hits: Sequence[ScoredChunk]) -> list[Extract]:
    """Up to three sentences covering the most question terms, in source order."""
    wanted = set(terms(question))
    if not wanted:
        return []
    scored: list[tuple[float, int, Extract]] = []
    for n, hit in enumerate(hits, start=1):
        for position, sentence in enumerate(sentences(hit.chunk.text)):
            coverage = len(wanted & set(terms(sentence))) / len(wanted)
            if coverage >= MIN_COVERAGE:
                # Prefer coverage, then better-ranked sources, then earlier sentences.
                scored.append((coverage - 0.02 * n - 0.001 * position, n, Extract(n, sentence, coverage)))
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen = [extract for _, _, extract in scored[:MAX_SENTENCES]]
    return sorted(chosen, key=lambda e: e.n)


def render(extracts: Sequence[Extract]) -> str:
    """The extractive answer text, each sentence quoted with its citation."""
    lines = [f"> {neutralise(e.sentence)} [{e.n}]" for e in extracts]
    return EXTRACTED_LABEL + "\n\n" + "\n>\n".join(lines)
