"""HWP 5 (OLE compound file) read into text, table and text-box elements, in pure Python.

The body is kept in `BodyText/SectionN` streams (`ViewText/SectionN`, encrypted, in distribution
documents) of tagged records, zlib-compressed when the file header says so. Each record has a
level; a record's children are the records after it one level deeper. A paragraph
(`PARA_HEADER`) holds its text (UTF-16LE, where control characters either stand alone or occupy
eight code units), its line layout and its controls. A control's lists (a `LIST_HEADER` followed
by its paragraphs) hold the text of table cells, text boxes, captions, headers, footers and
notes. Tables become one element of `cell | cell` rows; every other list's text follows the
paragraph that anchors it. Pages come from the saved line layout (see `hwp_pages`).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import olefile

from core.errors import DocumentTooLarge, EncryptedDocument, MalformedDocument
from core.types import Element
from ingest.parsers.hwp5_distribution import decrypt_stream
from ingest.parsers.hwp_pages import Pager
from ingest.parsers.hwp_tables import Cell, cell_content, table_element
from ingest.parsers.limits import MB, ParseLimits

_TAG_BEGIN = 0x10
TAG_PARA_HEADER = _TAG_BEGIN + 50
TAG_PARA_TEXT = _TAG_BEGIN + 51
TAG_PARA_LINE_SEG = _TAG_BEGIN + 53
TAG_CTRL_HEADER = _TAG_BEGIN + 55
TAG_LIST_HEADER = _TAG_BEGIN + 56
TAG_TABLE = _TAG_BEGIN + 61

# FileHeader properties (HWP 5.0 specification, table 3)
FLAG_COMPRESSED, FLAG_DISTRIBUTION = 0x1, 0x4
_PASSWORD, _DRM, _CERTIFICATE, _CERTIFICATE_DRM = 0x2, 0x10, 0x100, 0x400
# PARA_HEADER break kinds: section, (multi-column), page, column
_SECTION_BREAK, _PAGE_BREAK, _COLUMN_BREAK = 0x01, 0x04, 0x08
_TABLE_ID, _COLUMNS_ID = b" lbt", b"dloc"  # control ids "tbl " and "cold", as stored (little-endian)
_LINE_SEG_SIZE = 36

_SINGLE = {0: "", 10: "\n", 13: "\n", 24: "-", 30: " ", 31: " ", **dict.fromkeys(range(25, 30), "")}
# Eight-unit controls that separate words: a tab, and an object standing in the line (a table
# or shape, whose text follows the paragraph). Fields, bookmarks and the like add nothing.
_SEPARATING = {9, 11}


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
        elif code in _SINGLE:
            out.append(_SINGLE[code])
            i += 1
        else:  # inline or extended control: eight code units
            out.append(" " if code in _SEPARATING else "")
            i += 8
    return "".join(out).strip()


@dataclass
class Record:
    """One tagged record and the records nested under it."""

    tag: int
    level: int
    data: bytes
    children: list[Record] = field(default_factory=list)

    def child_data(self, tag: int) -> Iterator[bytes]:
        """The data of this record's children with `tag`."""
        return (child.data for child in self.children if child.tag == tag)


def records(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """The (tag, level, data) of every record in a section stream."""
    pos = 0
    while pos + 4 <= len(stream):
        (header,) = struct.unpack_from("<I", stream, pos)
        pos += 4
        tag, level, size = header & 0x3FF, (header >> 10) & 0x3FF, header >> 20
        if size == 0xFFF:
            if pos + 4 > len(stream):
                return
            (size,) = struct.unpack_from("<I", stream, pos)
            pos += 4
        yield tag, level, stream[pos : pos + size]
        pos += size


def record_tree(stream: bytes) -> list[Record]:
    """The section's top-level records, each with its nested records."""
    roots: list[Record] = []
    open_records: list[Record] = []
    for tag, level, data in records(stream):
        node = Record(tag, level, data)
        while open_records and open_records[-1].level >= level:
            open_records.pop()
        (open_records[-1].children if open_records else roots).append(node)
        open_records.append(node)
    return roots


def _paragraph(node: Record) -> list[Element]:
    """A paragraph's own text, then the text of what its controls hold, in order."""
    text = "\n".join(t for t in map(para_text, node.child_data(TAG_PARA_TEXT)) if t)
    anchored = [e for child in node.children if child.tag == TAG_CTRL_HEADER for e in _control(child)]
    return ([Element(text)] if text else []) + anchored


def _control(node: Record) -> list[Element]:
    if node.data[:4] == _TABLE_ID:
        return _table(node.children)
    return _content(node.children)


def _content(nodes: list[Record]) -> list[Element]:
    """The elements of a run of sibling records: paragraphs, and whatever nests lists deeper."""
    out: list[Element] = []
    for node in nodes:
        if node.tag == TAG_PARA_HEADER:
            out.extend(_paragraph(node))
        elif node.tag == TAG_CTRL_HEADER:
            out.extend(_control(node))
        else:  # shape components, group shapes: their text boxes sit among their children
            out.extend(_content(node.children))
    return out


def _table(nodes: list[Record]) -> list[Element]:
    """A table control: its caption, the table as one element, then the tables in its cells."""
    at = next((i for i, n in enumerate(nodes) if n.tag == TAG_TABLE), len(nodes))
    caption = _content(nodes[:at])
    lists: list[tuple[bytes, list[Record]]] = []
    for node in nodes[at + 1 :]:
        if node.tag == TAG_LIST_HEADER:
            lists.append((node.data, []))
        elif lists:
            lists[-1][1].append(node)
    cells: list[Cell] = []
    nested: list[Element] = []
    for index, (header, paragraphs) in enumerate(lists):
        text, inner = cell_content(_content(paragraphs))
        col, row = struct.unpack_from("<HH", header, 8) if len(header) >= 12 else (index, 0)
        cells.append(Cell(row, col, text))
        nested.extend(inner)
    table = table_element(cells)
    return caption + ([table] if table else []) + nested


def _line_positions(node: Record) -> list[int]:
    """The vertical position of each line of a paragraph, from its PARA_LINE_SEG record."""
    return [
        struct.unpack_from("<i", data, offset + 4)[0]
        for data in node.child_data(TAG_PARA_LINE_SEG)
        for offset in range(0, len(data) - _LINE_SEG_SIZE + 1, _LINE_SEG_SIZE)
    ]


def section_elements(stream: bytes, pager: Pager | None = None) -> list[Element]:
    """The elements of one decompressed section stream, each with the page its paragraph starts on."""
    pager = pager or Pager()
    pager.start_section()
    elements: list[Element] = []
    for node in record_tree(stream):
        if node.tag != TAG_PARA_HEADER:
            continue
        for control in node.child_data(TAG_CTRL_HEADER):
            if control[:4] == _COLUMNS_ID and len(control) >= 6:
                pager.set_columns((struct.unpack_from("<H", control, 4)[0] >> 2) & 0xFF)
        kind = node.data[11] if len(node.data) > 11 else 0
        page = pager.paragraph(
            _line_positions(node),
            page_break=bool(kind & (_SECTION_BREAK | _PAGE_BREAK)),
            column_break=bool(kind & _COLUMN_BREAK),
        )
        elements.extend(replace(e, page=page) for e in _paragraph(node))
    return elements


def _inflate(raw: bytes, budget: int, number: int) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw, max(budget, 0) + 1)
    except zlib.error as exc:
        raise MalformedDocument(f"HWP section {number} is damaged: {exc}") from exc
    if len(data) > budget:
        raise DocumentTooLarge(
            f"the HWP file's text would inflate to more than {budget / MB:.0f} MB (the limit); "
            "it may be a decompression bomb"
        )
    if not inflater.eof:
        raise MalformedDocument(f"HWP section {number} is damaged: its compressed data is cut short")
    return data


def section_stream(raw: bytes, flags: int, budget: int, number: int = 1) -> bytes:
    """One section's records from its stored bytes: decrypted and inflated as the file header says."""
    if flags & FLAG_DISTRIBUTION:
        raw = decrypt_stream(raw)
    return _inflate(raw, budget, number) if flags & FLAG_COMPRESSED else raw


def _check_protection(flags: int) -> None:
    if flags & _PASSWORD:
        raise EncryptedDocument("the HWP file is password-protected")
    if flags & (_DRM | _CERTIFICATE_DRM):
        raise EncryptedDocument("the HWP file is DRM-protected; save it without DRM to index it")
    if flags & _CERTIFICATE:
        raise EncryptedDocument("the HWP file is encrypted with a certificate")


def parse_hwp(path: Path, limits: ParseLimits | None = None) -> list[Element]:
    """Elements of an HWP 5 file; encrypted and damaged files raise typed errors."""
    budget = (limits or ParseLimits()).max_unpacked_bytes
    if not olefile.isOleFile(str(path)):
        raise MalformedDocument("not an HWP 5 file (the compound-file header is missing)")
    with olefile.OleFileIO(str(path)) as ole:
        if not ole.exists("FileHeader"):
            raise MalformedDocument("not an HWP 5 file (no FileHeader stream)")
        header = ole.openstream("FileHeader").read()
        if not header.startswith(b"HWP Document File") or len(header) < 40:
            raise MalformedDocument("not an HWP 5 file (bad signature)")
        (flags,) = struct.unpack_from("<I", header, 36)
        _check_protection(flags)
        storage = "ViewText" if flags & FLAG_DISTRIBUTION else "BodyText"
        sections = sorted(
            (e for e in ole.listdir() if len(e) == 2 and e[0] == storage),
            key=lambda e: int(re.sub(r"\D", "", e[1]) or 0),
        )
        if not sections and flags & FLAG_DISTRIBUTION:
            raise MalformedDocument("HWP distribution document without its ViewText sections")
        pager = Pager()
        elements: list[Element] = []
        for number, entry in enumerate(sections, start=1):
            stream = section_stream(ole.openstream(entry).read(), flags, budget, number)
            budget -= len(stream)
            elements.extend(section_elements(stream, pager))
        return pager.finish(elements)
