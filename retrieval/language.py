"""The asker's language (Korean or English) and Sillok's own words in it.

Refusals, labels and notices follow the language of the question, so a Korean question never
gets an English refusal.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["ko", "en"]
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")

_TEXTS: dict[str, dict[Language, str]] = {
    "refusal": {
        "en": "The documents available to you do not answer this question.",
        "ko": "열람 가능한 문서에서 이 질문의 답을 찾을 수 없습니다.",
    },
    "extracted": {
        "en": "Extracted from your documents:",
        "ko": "문서에서 발췌한 내용:",
    },
}


def detect(text: str) -> Language:
    """ "ko" when at least a fifth of the letters are Hangul, else "en"."""
    letters = _LETTER.findall(text)
    if not letters:
        return "en"
    hangul = sum(1 for ch in letters if _HANGUL.match(ch))
    return "ko" if hangul / len(letters) >= 0.2 else "en"


def say(key: str, language: Language) -> str:
    """Sillok's text `key` in `language`."""
    return _TEXTS[key][language]


def refusals() -> frozenset[str]:
    """Every language's refusal sentence (a model may echo any of them)."""
    return frozenset(_TEXTS["refusal"].values())
