"""Malformed input refused at the edge: text that is not Unicode, integers beyond SQL's range.

JSON allows `\\ud800`-style escapes that decode to lone surrogates, which no database, tokenizer
or encoder accepts; Python's JSON parser also lets raw surrogate bytes through. Integers in
paths and queries are arbitrary-precision in Python and 64-bit in SQL. Both are refused here
with 400 before any route sees them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from core.errors import InvalidInput

SQL_INT_MIN, SQL_INT_MAX = -(2**63), 2**63 - 1
# Only a body containing one of these can hold a lone surrogate; the rest is never parsed here.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_INTEGER = re.compile(r"[+-]?\d+")


def has_lone_surrogate(body: bytes) -> bool:
    """Whether the JSON text `body` decodes to a string with an unpaired UTF-16 surrogate."""
    if not _MAYBE_SURROGATE.search(body):
        return False
    if re.search(rb"\xed[\xa0-\xbf]", body):  # surrogates encoded as UTF-8 bytes: never valid
        return True
    try:
        parsed = json.loads(body)
    except ValueError:
        return False  # not JSON: the route reports it
    try:  # a valid pair was joined into one code point by the parser; a lone half cannot encode
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refuse_lone_surrogates(body: bytes) -> None:
    """InvalidInput when the body holds text that is not valid Unicode."""
    if has_lone_surrogate(body):
        raise InvalidInput("the request contains text that is not valid Unicode (a lone surrogate)")


def refuse_out_of_range(values: Iterable[tuple[str, str]]) -> None:
    """InvalidInput when an integer parameter does not fit a 64-bit SQL integer."""
    for name, value in values:
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            continue  # not an integer at all: the route's own validation says so
        digits = text.lstrip("+-").lstrip("0")
        if len(digits) > 19 or not SQL_INT_MIN <= int(text) <= SQL_INT_MAX:
            raise InvalidInput(f"{name}: must be an integer between {SQL_INT_MIN} and {SQL_INT_MAX}")
