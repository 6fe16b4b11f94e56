"""Keyword terms of Korean, English and mixed text, and BM25-style sparse vectors built from them.

Korean runs through Kiwi's morphological analysis, one space-separated word (eojeol) at a time
with a cache, so a word is analysed once per process (several times faster than analysing whole
passages, and the same word always gives the same terms): nouns, numerals, Hanja, verb and
adjective stems and roots are kept; particles, endings and suffixes are dropped, so 노트북을,
노트북은 and 노트북이 are one term. Latin-script words and numbers are lower-cased, common English
stop words dropped and the rest stemmed with the Snowball English stemmer. Text without Hangul
never reaches Kiwi.

Sparse vectors carry BM25's saturated, length-normalised term frequency on the passage side and
1 per distinct term on the query side; the index multiplies by its IDF (Qdrant's `Modifier.IDF`),
which completes BM25. Term ids are CRC-32 hashes, so no vocabulary needs to be kept.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from core.search import SparseVector

ANALYZER = "kiwi-eojeol-snowball-bm25-v1"  # recorded with every collection; change it when terms change
K1 = 1.2
B = 0.75
AVG_TERMS = 60.0  # passage length in terms at which BM25's length normalisation is neutral

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_KOREAN_TAGS = ("NNG", "NNP", "NR", "SH", "VV", "VA", "XR")
_KOREAN_LIGHT = frozenset({"하", "되", "있", "않"})  # light and auxiliary verbs: no content of their own
_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_lock = threading.Lock()


@cache
def kiwi() -> Any:
    """The one Kiwi morphological analyser of the process (its model loads once)."""
    from kiwipiepy import Kiwi

    return Kiwi()


@cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    with _lock:  # the Snowball stemmer object keeps state between calls
        return str(_stemmer().stemWord(word))


def english_terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed Latin-script words and numbers of `text`."""
    out: list[str] = []
    for word in _LATIN.findall(text.lower()):
        word = word.replace("’", "'").split("'")[0]
        if len(word) > 1 and word not in STOPWORDS:
            out.append(word if word.isdigit() else _stem(word))
    return out


@lru_cache(maxsize=500_000)
def _word_terms(word: str) -> tuple[str, ...]:
    analysed = kiwi().tokenize(word)
    return tuple(t.form for t in analysed if t.tag.startswith(_KOREAN_TAGS) and t.form not in _KOREAN_LIGHT)


def korean_terms(text: str) -> list[str]:
    """Content morphemes of the Korean words in `text` (Latin script and digits: `english_terms`)."""
    out: list[str] = []
    for word in text.split():
        if _HANGUL.search(word):
            out.extend(_word_terms(word))
    return out


def terms(text: str) -> list[str]:
    """Every keyword term of `text`, Korean morphemes first, duplicates kept."""
    found = korean_terms(text) if _HANGUL.search(text) else []
    return found + english_terms(text)


def term_id(term: str) -> int:
    """The sparse dimension of a term."""
    return zlib.crc32(term.encode("utf-8"))


def _vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(tuple(i for i, _ in ordered), tuple(w for _, w in ordered))


def passage_vector(text: str) -> SparseVector:
    """BM25 term-frequency weights of a passage (IDF is applied by the index)."""
    found = terms(text)
    norm = K1 * (1 - B + B * len(found) / AVG_TERMS)
    weights: dict[int, float] = {}
    for term, tf in Counter(found).items():
        index = term_id(term)
        weights[index] = weights.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)
    return _vector(weights)


def query_vector(text: str) -> SparseVector:
    """Weight 1 for each distinct term of a query."""
    return _vector(dict.fromkeys((term_id(t) for t in terms(text)), 1.0))


def passage_vectors(texts: Sequence[str]) -> list[SparseVector]:
    """`passage_vector` of each text, in order."""
    return [passage_vector(t) for t in texts]
