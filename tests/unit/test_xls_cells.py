"""How Excel 97-2003 cells read as text: as a person sees them in Excel, one row per line."""

from __future__ import annotations

import pytest
import xlrd  # type: ignore[import-untyped]
from xlrd.sheet import Cell  # type: ignore[import-untyped]

from ingest.parsers.xls import cell_text, rows

WINDOWS_1900 = 0  # the workbook's date mode


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        (xlrd.XL_CELL_TEXT, "  Quarterly\n budget ", "Quarterly budget"),
        (xlrd.XL_CELL_NUMBER, 1200.0, "1200"),
        (xlrd.XL_CELL_NUMBER, 3.3499999999999943, "3.35"),
        (xlrd.XL_CELL_NUMBER, -0.125, "-0.125"),
        (xlrd.XL_CELL_DATE, 38406.0, "2005-02-23"),
        (xlrd.XL_CELL_DATE, 0.2736111111111111, "06:34:00"),
        (xlrd.XL_CELL_DATE, 38406.5, "2005-02-23 12:00:00"),
        (xlrd.XL_CELL_DATE, -5.0, "-5"),  # not a date Excel can show: the number stays
        (xlrd.XL_CELL_BOOLEAN, 1, "TRUE"),
        (xlrd.XL_CELL_ERROR, 0x07, "#DIV/0!"),
        (xlrd.XL_CELL_EMPTY, "", ""),
    ],
)
def test_cell_text(kind: int, value: object, text: str) -> None:
    assert cell_text(Cell(kind, value), WINDOWS_1900) == text


def test_rows_drop_empty_rows_and_trailing_cells_but_keep_column_positions() -> None:
    def text(value: str) -> Cell:
        return Cell(xlrd.XL_CELL_TEXT, value)

    empty = Cell(xlrd.XL_CELL_EMPTY, "")
    grid = [[text("이름"), text("부서"), empty], [empty, empty, empty], [empty, text("인사팀"), empty]]
    assert rows(grid, WINDOWS_1900) == ["이름 | 부서", " | 인사팀"]
