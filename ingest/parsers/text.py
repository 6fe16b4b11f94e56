"""Plain-text formats: encoding detection, paragraphs and delimited tables."""

from __future__ import annotations

import csv
import io

from charset_normalizer import from_bytes

from core.errors import MalformedDocument
from core.types import Element

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes) -> str:
    """Decode bytes of unknown encoding (BOMs first, then UTF-8, then detection)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise MalformedDocument("the text encoding could not be recognised (binary data?)")
    return str(best)


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
