"""HWPX (OWPML, KS X 6101): zipped XML sections read into text, table and text-box elements.

Each `Contents/sectionN.xml` holds body paragraphs (`hp:p`). A paragraph's runs are joined as
they are (Hangul splits words across runs), and what the runs anchor follows the paragraph's
text in order: tables (`hp:tbl`, one `table` element of `cell | cell` rows, nested tables after
their table), text boxes and shapes (`hp:drawText`, grouped shapes, text art), captions,
headers, footers and notes. Every node is read once, so no text comes out twice. Text deleted
under change tracking is left out.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from core.errors import MalformedDocument
from core.types import Element
from ingest.parsers.hwp_pages import Pager
from ingest.parsers.hwp_tables import Cell, cell_content, table_element

_SECTION = re.compile(r"Contents/section(\d+)\.xml$")
_INLINE = {"tab": "\t", "lineBreak": "\n", "nbSpace": " ", "fwSpace": " ", "hyphen": "-"}
# Parts of an object that hold no document text: shape comments are Hangul's generated alt text
# ("사각형입니다."), scripts are equation source, parameters belong to fields.
_SKIP = {"shapeComment", "script", "parameters", "linesegarray", "secPr"}

Node = Any  # an lxml element; lxml ships no type information


def _name(node: Node) -> str:
    tag = node.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(node: Node, name: str) -> Iterator[Node]:
    return (child for child in node if _name(child) == name)


def _int(node: Node | None, attribute: str, default: int = 0) -> int:
    try:
        return int(node.get(attribute)) if node is not None else default
    except (TypeError, ValueError):
        return default


@dataclass
class _Text:
    """The text of one paragraph being read; `deleted` while inside a change-tracked deletion."""

    parts: list[str]
    deleted: bool = False

    def add(self, text: str | None) -> None:
        if text and not self.deleted:
            self.parts.append(text)


class _Reader:
    """Reads the paragraphs of one section into elements."""

    def paragraph(self, para: Node) -> list[Element]:
        """The paragraph's own text, then what its runs anchor, in order."""
        text = _Text([])
        anchored: list[Element] = []
        for run in _children(para, "run"):
            for child in run:
                name = _name(child)
                if name == "t":
                    self._t(child, text)
                elif name == "dutmal":  # text with a gloss above or below it
                    text.add(child.findtext("{*}mainText"))
                elif name == "ctrl":  # fields, headers, footers, notes, column definitions
                    anchored.extend(self.objects(child))
                else:  # tables, shapes, pictures: one that holds text parts the words around it
                    held = self.objects(child)
                    anchored.extend(held)
                    text.add(" " if held else None)
        own = "".join(text.parts).strip()
        return ([Element(own)] if own else []) + anchored

    @staticmethod
    def _t(node: Node, text: _Text) -> None:
        text.add(node.text)
        for child in node:
            name = _name(child)
            if name == "deleteBegin":
                text.deleted = True
            elif name == "deleteEnd":
                text.deleted = False
            else:
                text.add(_INLINE.get(name))
            text.add(child.tail)

    def objects(self, node: Node) -> list[Element]:
        """Every text an object holds: tables, text boxes, grouped shapes, captions, notes."""
        name = _name(node)
        if name == "tbl":
            return self.table(node)
        if name == "textart":
            art = " ".join((node.get("text") or "").split())
            return [Element(art)] if art else []
        if name == "subList":
            return [e for para in _children(node, "p") for e in self.paragraph(para)]
        if name in _SKIP:
            return []
        return [e for child in node for e in self.objects(child)]

    def table(self, tbl: Node) -> list[Element]:
        """A caption, the table as one element, then the tables nested in its cells."""
        caption = [e for child in _children(tbl, "caption") for e in self.objects(child)]
        cells: list[Cell] = []
        nested: list[Element] = []
        for row_index, row in enumerate(_children(tbl, "tr")):
            next_col = 0
            for cell in _children(row, "tc"):
                text, inner = cell_content(
                    [e for sub in _children(cell, "subList") for e in self.objects(sub)]
                )
                nested.extend(inner)
                # Hangul writes every cell's address; without one, the cell follows the one before
                address = cell.find("{*}cellAddr")
                row_at = _int(address, "rowAddr", row_index)
                col_at = _int(address, "colAddr", next_col)
                next_col = col_at + max(1, _int(cell.find("{*}cellSpan"), "colSpan", 1))
                cells.append(Cell(row_at, col_at, text))
        table = table_element(cells)
        return caption + ([table] if table else []) + nested


def _section(root: Node, reader: _Reader, pager: Pager) -> list[Element]:
    pager.start_section()
    elements: list[Element] = []
    for para in _children(root, "p"):
        for columns in para.iterfind("{*}run/{*}ctrl/{*}colPr"):
            pager.set_columns(_int(columns, "colCount", 1))
        lines = [_int(seg, "vertpos") for seg in para.iterfind("{*}linesegarray/{*}lineseg")]
        page = pager.paragraph(lines, para.get("pageBreak") == "1", para.get("columnBreak") == "1")
        elements.extend(replace(e, page=page) for e in reader.paragraph(para))
    return elements


def parse_hwpx(path: Path) -> list[Element]:
    """Elements of an HWPX file in reading order, with pages where the file saved its layout."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    reader, pager = _Reader(), Pager()
    elements: list[Element] = []
    try:
        with zipfile.ZipFile(path) as archive:
            numbered = ((_SECTION.match(n), n) for n in archive.namelist())
            names = [n for _, n in sorted((int(m.group(1)), n) for m, n in numbered if m)]
            for name in names:
                root = etree.fromstring(archive.read(name), parser=parser)
                elements.extend(_section(root, reader, pager))
    except (zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise MalformedDocument(f"the HWPX file is damaged: {exc}") from exc
    return pager.finish(elements)
