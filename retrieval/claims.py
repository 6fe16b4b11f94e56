"""Checkable facts of a sentence (numbers, dates, amounts, names) and whether a passage states them.

Every number is reduced to its value, so the written forms of one quantity agree: "$2,099.00",
"$2099.00" and "$2 099" are 2099; "1,000억원", "1000억 원" and "100 billion won" are 1e11;
"1조 3,000억" is 1.3e12; "15일" and "15 days" are 15; "fifteen" is 15 in a passage. A date is its
parts, so "2023년 4월 5일", "April 5, 2023" and "2023-04-05" agree, and a passage's '23년 is 2023.
Names are capitalised or all-capital Latin words not opening the sentence, and Korean proper
nouns (and nouns outside Kiwi's dictionary, mostly transliterated names); a name agrees when the
passage contains it (case aside).

A passage is read leniently (the parts of a compound amount and its plain mantissas count too), a
sentence strictly, so that a fact a sentence adds or changes is what fails to agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

from core.lexical import STOPWORDS, kiwi

FactKind = Literal["number", "name"]

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_NUMBER_WORDS = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty"""
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_WORD_NUMBERS = {w: i for i, w in enumerate(_NUMBER_WORDS.split())} | _TENS
_SENTENCE_WORD_NUMBERS = {w: v for w, v in _WORD_NUMBERS.items() if w not in ("zero", "one")}
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "mn": 1e6}
_KOREAN_SCALES = {"만": 1e4, "억": 1e8, "조": 1e12}
_NATIVE_WORDS = "한 두 세 네 다섯 여섯 일곱 여덟 아홉 열"
_NATIVE = {w: i for i, w in enumerate(_NATIVE_WORDS.split(), start=1)}
_COUNTERS = "명|개|번|가지|곳|달|시간|살|권|대|마리|차례|사람"

# A date written with separators: 2023-04-05, 2023.04.05, 2023/4/5.
_ISO_DATE = re.compile(r"(?<![\d.])(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?![\d])")
# A number grouped by commas (or by spaces right after a currency sign), with optional decimals and
# a Korean or English scale word; "제8조" is an article number, not eight trillion.
_NUMBER = re.compile(
    r"(?<![\d.,A-Za-z])(?:(?<=[$€£¥₩])\s?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:\.\d+)?"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d])"
)
_SCALE_AFTER = re.compile(r"\s?([만억조])|\s(thousand|million|billion|trillion|bn|mn)\b", re.IGNORECASE)
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*|\d+[A-Za-z][A-Za-z0-9\-]*")
_NATIVE_COUNT = re.compile(rf"(?<![가-힣])({'|'.join(_NATIVE)})\s?(?:{_COUNTERS})")


@dataclass(frozen=True)
class Fact:
    """One checkable fact of a text: its kind, normalised value and `[start, end)` in the text."""

    kind: FactKind
    value: float | str
    start: int
    end: int

    def written(self, text: str) -> str:
        """How the fact is written in `text`."""
        return text[self.start : self.end]


def _value(raw: str) -> float:
    return float(raw.replace(",", "").replace(" ", ""))


def _numbers(text: str, lenient: bool) -> list[Fact]:
    """Numeric facts; `lenient` adds a compound's parts and the mantissa of a scaled number."""
    out: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for m in _ISO_DATE.finditer(text):
        taken.append(m.span())
        for group in (1, 2, 3):
            out.append(Fact("number", float(int(m.group(group))), m.start(group), m.end(group)))
    previous: Fact | None = None  # the last Korean scaled amount: 1조 3,000억 is one amount
    for m in _NUMBER.finditer(text):
        if any(x <= m.start() < y for x, y in taken):
            continue
        mantissa = _value(m.group())
        scale, end = 1.0, m.end()
        after = _SCALE_AFTER.match(text, m.end())
        if after and text[max(0, m.start() - 1) : m.start()] != "제":
            word = after.group(1) or after.group(2)
            scale = _KOREAN_SCALES.get(word) or _SCALES[word.lower()]
            end = after.end()
        year = _short_year(text, m) if scale == 1.0 else None
        fact = Fact("number", year or mantissa * scale, m.start(), end)
        korean = bool(after and after.group(1)) and scale != 1.0
        joined = previous is not None and korean and not text[previous.end : m.start()].strip()
        if previous is not None and joined and float(previous.value) > float(fact.value):
            merged = Fact("number", float(previous.value) + float(fact.value), previous.start, end)
            if lenient:
                out.append(fact)
            else:
                out.remove(previous)
            out.append(merged)
            previous = merged
            continue
        out.append(fact)
        if lenient and scale != 1.0:
            out.append(Fact("number", mantissa, m.start(), m.end()))
        if lenient and year:
            out.append(Fact("number", mantissa, m.start(), m.end()))
        previous = fact if korean else None
    words = _WORD_NUMBERS if lenient else _SENTENCE_WORD_NUMBERS
    for m in re.finditer(r"[A-Za-z]+", text):
        word = m.group().lower()
        if word in words:
            out.append(Fact("number", float(words[word]), m.start(), m.end()))
        elif word in _MONTHS and _next_to_number(text, m.start(), m.end()):
            out.append(Fact("number", float(_MONTHS[word]), m.start(), m.end()))
    for m in _NATIVE_COUNT.finditer(text):
        out.append(Fact("number", float(_NATIVE[m.group(1)]), m.start(1), m.end(1)))
    return out


def _short_year(text: str, m: re.Match[str]) -> float | None:
    """The year that '23 or 23년 stands for (2023; '87 is 1987), else None."""
    if not re.fullmatch(r"\d\d", m.group()):
        return None
    marked = text[max(0, m.start() - 1) : m.start()] in ("'", "’", "‘") or text[m.end() : m.end() + 1] == "년"
    value = int(m.group())
    return float(2000 + value if value < 50 else 1900 + value) if marked else None


def _next_to_number(text: str, start: int, end: int) -> bool:
    """Whether a month name stands beside a day or year ("May 5", "5 May", "May 2023")."""
    after = re.match(r"\.?\s+\d{1,4}\b", text[end:])
    before = re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\s+$", text[max(0, start - 6) : start])
    return bool(after or before)


@cache
def _unknown_noun() -> int:
    """Kiwi's morpheme id of a noun outside its dictionary (mostly transliterated names)."""
    return int(kiwi().tokenize("뷁뛣쀍")[0].id)


@lru_cache(maxsize=100_000)
def _korean_names(word: str) -> tuple[str, ...]:
    """Proper nouns of one Korean word, and nouns Kiwi does not know (names it has not seen)."""
    unknown = _unknown_noun()
    return tuple(
        t.form
        for t in kiwi().tokenize(word)
        if len(t.form) > 1 and (t.tag == "NNP" or (t.tag == "NNG" and t.id == unknown))
    )


def _names(text: str) -> list[Fact]:
    out: list[Fact] = []
    first = True
    for m in _LATIN_WORD.finditer(text):
        word = m.group()
        opening = first and not text[: m.start()].strip(" \"'“‘(")
        first = False
        core = re.sub(r"['’]s?$", "", word)
        lower = core.lower()
        if len(core) < 2 or lower in STOPWORDS or lower in _MONTHS or lower in _WORD_NUMBERS:
            continue
        capital = core[0].isupper() or (core[0].isdigit() and any(c.isupper() for c in core))
        code = sum(c.isupper() for c in core) >= 2 or any(c.isdigit() for c in core)
        if capital and (not opening or code):
            out.append(Fact("name", lower, m.start(), m.start() + len(core)))
    if _HANGUL.search(text):
        for m in re.finditer(r"\S+", text):
            if _HANGUL.search(m.group()):
                for name in _korean_names(m.group()):
                    at = text.find(name, m.start(), m.end())
                    if at >= 0:
                        out.append(Fact("name", name, at, at + len(name)))
    return out


def facts(text: str, lenient: bool = False) -> list[Fact]:
    """The numbers (dates' parts and amounts included) and names of `text`, in order."""
    return sorted(_numbers(text, lenient) + _names(text), key=lambda f: (f.start, f.kind))


@dataclass(frozen=True)
class Evidence:
    """What a passage states, ready for agreement checks."""

    numbers: frozenset[float]
    text: str  # lower-cased, for name look-ups
    words: frozenset[str]


def evidence(passages: Iterable[str]) -> Evidence:
    """The numbers, words and lower-cased text of one or more passages."""
    joined = "\n".join(passages)
    numbers = frozenset(float(f.value) for f in _numbers(joined, lenient=True))
    words = frozenset(re.sub(r"['’]s?$", "", w).lower() for w in _LATIN_WORD.findall(joined))
    parts = frozenset(p for w in words for p in w.split("-") if p)
    return Evidence(numbers, joined.lower(), words | parts)


def _number_agrees(value: float, numbers: frozenset[float]) -> bool:
    return any(abs(value - n) <= 1e-9 * max(1.0, abs(n)) for n in numbers)


def agrees(fact: Fact, found: Evidence) -> bool:
    """Whether the passage evidence states `fact`."""
    if fact.kind == "number":
        return _number_agrees(float(fact.value), found.numbers)
    name = str(fact.value)
    if _HANGUL.search(name):
        return name.lower() in found.text
    return name in found.words or all(p in found.words for p in name.split("-") if p)


def missing(sentence: str, found: Evidence) -> list[Fact]:
    """The sentence's facts that the passage evidence does not state."""
    return [f for f in facts(sentence) if not agrees(f, found)]
