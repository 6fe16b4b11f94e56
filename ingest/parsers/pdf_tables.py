"""Ruled tables of a PDF's text layer, read cell by cell, in place of the loose text they cover.

unstructured's fast strategy reads a table as loose lines (often mistaken for titles), and its
table models (the hi_res strategy) would have to be downloaded, which Sillok never does.
pdfplumber (on the same pdfminer) finds tables drawn with ruling lines and reads them row by row;
tables without vertical rules stay as unstructured read them. Only pages whose vector drawings
could form a grid are opened (pdfium counts their path segments quickly), at most
`MAX_TABLE_PAGES` per file. An element unstructured read is replaced by a table only when its
box lies in the table and every word of it is in the table's cells, so no text is lost; a table
that covers nothing unstructured read is left out. Finding tables never fails a document:
without pdfplumber, or on a page it cannot read, the text stays as unstructured read it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from core.types import Element
from ingest.parsers.tables import CELL_SEPARATOR, table_element

log = structlog.get_logger(__name__)
MAX_TABLE_PAGES = 200  # pages per file searched for tables (about 30-200 ms each)
_MIN_SEGMENTS = 12  # path segments of the smallest ruled grid (2 × 2 cells)
_MAX_SEGMENTS = 20_000  # more is a drawing (plans, charts), slow to read and not a table
_SLACK = 2.0  # points an element's centre may lie outside a table's box
_WORDS = re.compile(r"[^\s|]+")


@dataclass(frozen=True)
class FoundTable:
    """A table found on a page: its box (x0, top, x1, bottom in points from the top left)."""

    page: int
    box: tuple[float, float, float, float]
    element: Element


def ruled_pages(document: Any) -> list[int]:
    """Numbers of the pages of a pdfium document whose drawings could form a ruled table."""
    import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

    pages: list[int] = []
    try:
        for index in range(len(document)):
            segments = 0
            for path in document[index].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3):
                segments += max(0, pdfium_c.FPDFPath_CountSegments(path.raw))
                if segments > _MAX_SEGMENTS:
                    break
            if _MIN_SEGMENTS <= segments <= _MAX_SEGMENTS:
                pages.append(index + 1)
    except Exception as exc:  # a damaged page: look for tables on the pages counted so far
        log.warning("pdf_tables_scan_failed", error=type(exc).__name__, detail=str(exc)[:200])
    return pages


def find_tables(path: Path, pages: Sequence[int]) -> list[FoundTable]:
    """The tables of at least 2 rows and 2 columns on `pages`; none when they cannot be read."""
    pages = list(pages)[:MAX_TABLE_PAGES]
    if not pages:
        return []
    try:
        pdfplumber = importlib.import_module("pdfplumber")
    except ImportError:
        log.info("pdf_tables_unavailable", reason="pdfplumber is not installed")
        return []
    found: list[FoundTable] = []
    try:
        with pdfplumber.open(path, pages=pages) as pdf:
            for page in pdf.pages:
                found.extend(_page_tables(page))
                page.close()
    except Exception as exc:  # a damaged page: keep the tables read so far, the text as it is
        log.warning("pdf_tables_failed", error=type(exc).__name__, detail=str(exc)[:200])
    return found


def _page_tables(page: Any) -> list[FoundTable]:
    tables: list[FoundTable] = []
    for table in page.find_tables():
        element = table_element(_filled_rows(table), page=page.page_number)
        if element is not None and "\n" in element.text and CELL_SEPARATOR in element.text:
            box = tuple(float(v) for v in table.bbox)
            tables.append(FoundTable(page.page_number, (box[0], box[1], box[2], box[3]), element))
    return tables


def _filled_rows(table: Any) -> list[list[str | None]]:
    """The table's cell texts; a cell under one merged from the rows above repeats its text, so
    that every row reads whole (a cell merged across columns is read once, in its first)."""
    extracted: list[list[str | None]] = table.extract()
    grid = table.rows
    texts = {
        box: text
        for row, line in zip(grid, extracted, strict=True)
        for box, text in zip(row.cells, line, strict=True)
        if box
    }
    columns = sorted({box[0] for box in texts})
    filled: list[list[str | None]] = []
    for row, line in zip(grid, extracted, strict=True):
        top = row.bbox[1]
        cells: list[str | None] = []
        for x, text in zip(columns, line, strict=True):
            if text is None:
                above = next((b for b in texts if b[0] <= x < b[2] and b[1] < top < b[3]), None)
                text = texts[above] if above is not None else None
            cells.append(text)
        filled.append(cells)
    return filled


def place_tables(raw: Sequence[Any], tables: Sequence[FoundTable]) -> list[Any]:
    """unstructured's elements with those a table covers replaced by the table, where the first
    of them stood."""
    if not tables:
        return list(raw)
    placed: list[Any] = []
    used: set[int] = set()
    words = [_words(t.element.text) for t in tables]
    for item in raw:
        index = _covering(item, tables, words)
        if index is None:
            placed.append(item)
        elif index not in used:
            used.add(index)
            placed.append(tables[index].element)
    return placed


def _covering(item: Any, tables: Sequence[FoundTable], words: list[set[str]]) -> int | None:
    """The table whose box holds the element's centre and whose cells hold every word of it."""
    page = getattr(item.metadata, "page_number", None)
    coordinates = getattr(item.metadata, "coordinates", None)
    points = getattr(coordinates, "points", None)
    text = _words(item.text or "")
    if page is None or not points or not text:
        return None
    x = sum(p[0] for p in points) / len(points)
    y = sum(p[1] for p in points) / len(points)
    for index, table in enumerate(tables):
        x0, top, x1, bottom = table.box
        inside = x0 - _SLACK <= x <= x1 + _SLACK and top - _SLACK <= y <= bottom + _SLACK
        if table.page == page and inside and text <= words[index]:
            return index
    return None


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text))
