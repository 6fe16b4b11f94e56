"""Content terms of Korean and English text: Kiwi morphemes (nouns, verb stems, foreign words,
numbers) with particles and endings dropped, lower-cased, minus common English stop words."""

from __future__ import annotations

from functools import cache
from typing import Any

_KEEP_TAGS = ("NNG", "NNP", "NR", "SL", "SN", "SH", "VV", "VA", "XR", "NNB")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "my",
        "our",
        "your",
    ]
)


@cache
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def terms(text: str) -> list[str]:
    """Content terms in order of appearance (duplicates kept)."""
    out: list[str] = []
    for token in _kiwi().tokenize(text):
        if token.tag.startswith(_KEEP_TAGS):
            form = token.form.lower()
            if form not in STOPWORDS and (len(form) > 1 or not form.isascii()):
                out.append(form)
    return out
