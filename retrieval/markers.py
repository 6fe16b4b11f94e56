"""Citation markers: the answer's own `[n]`, and source text that must not pass for one.

A passage may contain a bracketed number of its own (a footnote, a reference list, or a line
written to make a claim look backed by another source). Before an answer adds its markers, such
numbers in source text are rewritten with full-width brackets, which read the same to a person
but are neither a live citation in the web UI nor a source number the model could echo.
"""

from __future__ import annotations

import re

CITATION = re.compile(r"\[(\d{1,3})\]")
# What the web UI renders as citation badges: [1], [1, 2], [1，2], [1、2].
_MARKER_LIKE = re.compile(r"\[(\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*)\]")


def cited_numbers(answer: str) -> list[int]:
    """The source numbers an answer cites, in order of appearance."""
    return [int(n) for n in CITATION.findall(answer)]


def neutralise(source_text: str) -> str:
    """`source_text` with every citation-like `[n]` turned into `［n］`."""
    return _MARKER_LIKE.sub(lambda m: f"［{m.group(1)}］", source_text)
