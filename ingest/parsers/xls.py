"""Excel 97-2003 workbooks read with xlrd: each sheet becomes one table of `cell | cell` rows."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import xlrd  # type: ignore[import-untyped]
from xlrd.compdoc import CompDocError  # type: ignore[import-untyped]
from xlrd.sheet import Cell  # type: ignore[import-untyped]
from xlrd.xldate import XLDateError  # type: ignore[import-untyped]

from core.errors import EncryptedDocument, MalformedDocument
from core.types import Element


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".12g")  # binary noise dropped (Excel shows at most 11 digits in General)


def _date(value: float, datemode: int) -> str:
    if value < 0:  # no date Excel can show
        return _number(value)
    try:
        moment: datetime = xlrd.xldate.xldate_as_datetime(value, datemode)
    except (XLDateError, OverflowError, ValueError):
        return _number(value)
    if value < 1:
        return moment.time().isoformat(timespec="seconds")
    if value.is_integer():
        return moment.date().isoformat()
    return moment.isoformat(sep=" ", timespec="seconds")


def cell_text(cell: Cell, datemode: int) -> str:
    """A cell as a person reads it: text on one line, whole numbers without `.0`, ISO dates."""
    kind, value = cell.ctype, cell.value
    if kind == xlrd.XL_CELL_TEXT:
        return " ".join(str(value).split())
    if kind == xlrd.XL_CELL_NUMBER:
        return _number(float(value))
    if kind == xlrd.XL_CELL_DATE:
        return _date(float(value), datemode)
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if kind == xlrd.XL_CELL_ERROR:
        return str(xlrd.error_text_from_code.get(value, "#ERROR"))
    return ""


def rows(cells: list[list[Cell]], datemode: int) -> list[str]:
    """Non-empty rows as lines of cells joined by ` | `, trailing empty cells dropped."""
    lines = []
    for row in cells:
        texts = [cell_text(cell, datemode) for cell in row]
        while texts and not texts[-1]:
            texts.pop()
        if texts:
            lines.append(" | ".join(texts))
    return lines


def parse_xls(path: Path) -> list[Element]:
    """One table element per non-empty sheet, with the sheet's name as its section and its number
    as its page; raises `MalformedDocument` when xlrd cannot read the workbook."""
    try:
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise EncryptedDocument("the workbook is encrypted with a password") from exc
        raise MalformedDocument(f"the workbook could not be read ({exc})") from exc
    except (CompDocError, AssertionError, IndexError, KeyError, ValueError, EOFError) as exc:
        raise MalformedDocument(f"the workbook is damaged ({type(exc).__name__}: {exc})") from exc
    elements = []
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            lines = rows([sheet.row(r) for r in range(sheet.nrows)], book.datemode)
            if lines:
                elements.append(Element("\n".join(lines), page=index + 1, section=sheet.name, kind="table"))
            book.unload_sheet(index)
    except (xlrd.XLRDError, CompDocError, AssertionError, IndexError, KeyError, ValueError, EOFError) as exc:
        raise MalformedDocument(f"the workbook is damaged ({type(exc).__name__}: {exc})") from exc
    finally:
        book.release_resources()
    return elements
