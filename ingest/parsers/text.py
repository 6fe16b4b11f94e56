"""Plain-text formats: encoding detection, paragraphs and delimited tables."""

from __future__ import annotations

import csv
import io

from charset_normalizer import from_bytes

from core.errors import MalformedDocument
from core.types import Element

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_NOISE_SHARE = 0.05  # control characters and replacement marks tolerated in real text
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
_SAMPLE = 1 << 20


def _bom_less_utf16(data: bytes) -> str | None:
    """`utf-16-le`/`-be` when NUL bytes sit on one side of most code units, as in UTF-16 text."""
    sample = data[:_SAMPLE]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    units = len(sample) // 2
    if units and odd > 0.5 * units and even < 0.01 * units:
        return "utf-16-le"
    if units and even > 0.5 * units and odd < 0.01 * units:
        return "utf-16-be"
    return None


def _check_is_text(text: str) -> str:
    sample = text[:_SAMPLE]
    noise = sum(1 for ch in sample if ch == "\ufffd" or (ch < " " and ch not in _ALLOWED_CONTROLS))
    if noise > max(2, _NOISE_SHARE * len(sample)):
        raise MalformedDocument("the file looks like binary data, not text")
    return text


def decode(data: bytes) -> str:
    """Decode bytes of unknown encoding (BOMs, UTF-16 without BOM, UTF-8, then detection).

    Text that is mostly control characters or undecodable bytes raises `MalformedDocument`.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _check_is_text(data.decode(encoding, errors="replace"))
    utf16 = _bom_less_utf16(data) if b"\x00" in data[:_SAMPLE] else None
    if utf16 is not None:
        return _check_is_text(data.decode(utf16, errors="replace"))
    try:
        return _check_is_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[: 4 * _SAMPLE]).best()
    if best is None or best.encoding is None:
        raise MalformedDocument("the text encoding could not be recognised (binary data?)")
    return _check_is_text(data.decode(best.encoding, errors="replace"))


def paragraphs(text: str) -> list[Element]:
    """Paragraph elements of plain text; form feeds start new pages when present."""
    pages = text.split("\f")
    paginated = len(pages) > 1
    elements: list[Element] = []
    for number, page in enumerate(pages, start=1):
        for block in page.replace("\r\n", "\n").split("\n\n"):
            if block.strip():
                elements.append(Element(block.strip(), page=number if paginated else None))
    return elements


def delimited_rows(text: str, delimiter: str) -> list[Element]:
    """A CSV/TSV file as one table element whose lines are rows joined by ` | `."""
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise MalformedDocument(f"the table could not be read: {exc}") from exc
    lines = [" | ".join(cell.strip() for cell in row) for row in rows if any(c.strip() for c in row)]
    return [Element("\n".join(lines), kind="table")] if lines else []
