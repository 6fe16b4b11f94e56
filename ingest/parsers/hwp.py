"""Korean word-processor files: HWP 5 (OLE compound file) and HWPX (zipped XML), in pure Python.

HWP 5 keeps its body in `BodyText/SectionN` streams of tagged records, zlib-compressed when the
header says so. Paragraph text is UTF-16LE in which control characters either stand alone or
occupy eight code units. Table cells are rebuilt into rows joined by ` | `.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import olefile

from core.errors import EncryptedDocument, MalformedDocument
from core.types import Element

_TAG_BEGIN = 0x10
TAG_PARA_TEXT = _TAG_BEGIN + 51
TAG_LIST_HEADER = _TAG_BEGIN + 56
TAG_TABLE = _TAG_BEGIN + 61
_SINGLE_CONTROLS = {0, 10, 13, *range(24, 32)}


@dataclass
class _Table:
    level: int
    cells: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    current: tuple[int, int] | None = None

    def text(self) -> str:
        rows: dict[int, dict[int, str]] = {}
        for (row, col), parts in self.cells.items():
            rows.setdefault(row, {})[col] = " ".join(p for p in parts if p)
        return "\n".join(" | ".join(cols[c] for c in sorted(cols)) for _, cols in sorted(rows.items()))


def para_text(data: bytes) -> str:
    """The visible text of one PARA_TEXT record."""
    chars = struct.unpack(f"<{len(data) // 2}H", data[: len(data) // 2 * 2])
    out: list[str] = []
    i = 0
    while i < len(chars):
        code = chars[i]
        if code >= 32:
            out.append(chr(code))
            i += 1
        elif code in _SINGLE_CONTROLS:
            out.append("\n" if code in (10, 13) else "")
            i += 1
        else:
            i += 8  # inline or extended control: eight code units
    return "".join(out).strip()


def _records(stream: bytes) -> list[tuple[int, int, bytes]]:
    records: list[tuple[int, int, bytes]] = []
    pos = 0
    while pos + 4 <= len(stream):
        (header,) = struct.unpack_from("<I", stream, pos)
        pos += 4
        tag, level, size = header & 0x3FF, (header >> 10) & 0x3FF, header >> 20
        if size == 0xFFF:
            (size,) = struct.unpack_from("<I", stream, pos)
            pos += 4
        records.append((tag, level, stream[pos : pos + size]))
        pos += size
    return records


def _section_elements(stream: bytes) -> list[Element]:
    elements: list[Element] = []
    table: _Table | None = None
    for tag, level, data in _records(stream):
        # A paragraph at the table's level (or anything shallower) ends the table.
        ends_table = tag == TAG_PARA_TEXT or level < (table.level if table else 0)
        if table is not None and level <= table.level and tag != TAG_LIST_HEADER and ends_table:
            elements.append(Element(table.text(), kind="table"))
            table = None
        if tag == TAG_TABLE:
            table = _Table(level)
        elif tag == TAG_LIST_HEADER and table is not None and len(data) >= 12:
            col, row = struct.unpack_from("<HH", data, 8)
            table.current = (row, col)
            table.cells.setdefault((row, col), [])
        elif tag == TAG_PARA_TEXT:
            text = para_text(data)
            if table is not None and table.current is not None:
                table.cells[table.current].append(text)
            elif text:
                elements.append(Element(text))
    if table is not None:
        elements.append(Element(table.text(), kind="table"))
    return elements


def parse_hwp(path: Path) -> list[Element]:
    """Elements of an HWP 5 file; encrypted and damaged files raise typed errors."""
    if not olefile.isOleFile(str(path)):
        raise MalformedDocument("not an HWP 5 file (the compound-file header is missing)")
    with olefile.OleFileIO(str(path)) as ole:
        if not ole.exists("FileHeader"):
            raise MalformedDocument("not an HWP 5 file (no FileHeader stream)")
        header = ole.openstream("FileHeader").read()
        if not header.startswith(b"HWP Document File"):
            raise MalformedDocument("not an HWP 5 file (bad signature)")
        (flags,) = struct.unpack_from("<I", header, 36)
        if flags & 0x2:
            raise EncryptedDocument("the HWP file is password-protected")
        compressed = bool(flags & 0x1)
        sections = sorted(
            (e for e in ole.listdir() if len(e) == 2 and e[0] == "BodyText"),
            key=lambda e: int(re.sub(r"\D", "", e[1]) or 0),
        )
        elements: list[Element] = []
        for number, entry in enumerate(sections, start=1):
            raw = ole.openstream(entry).read()
            try:
                stream = zlib.decompress(raw, -15) if compressed else raw
            except zlib.error as exc:
                raise MalformedDocument(f"HWP section {number} is damaged: {exc}") from exc
            elements.extend(Element(e.text, page=number, kind=e.kind) for e in _section_elements(stream))
        return elements


def parse_hwpx(path: Path) -> list[Element]:
    """Elements of an HWPX file (OWPML sections inside a zip)."""
    from lxml import etree

    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if re.match(r"Contents/section\d+\.xml$", n))
            elements: list[Element] = []
            for number, name in enumerate(names, start=1):
                root = etree.fromstring(archive.read(name), parser=etree.XMLParser(resolve_entities=False))
                for para in root.iter("{*}p"):
                    text = "".join(t.text or "" for t in para.iter("{*}t")).strip()
                    if text:
                        elements.append(Element(text, page=number))
            return elements
    except (zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise MalformedDocument(f"the HWPX file is damaged: {exc}") from exc
