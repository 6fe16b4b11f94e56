"""Tables of HWP 5 and HWPX files as rows of `cell | cell`, merged cells kept in their columns.

Both formats give every cell the row and column where it starts. A merged cell's text stands in
its first row and column and the positions it covers stay empty, so every row has the table's
full column count and a column means the same thing in every row. Rows and columns where no cell
starts carry nothing and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.types import Element

CELL_SEPARATOR = " | "
_SPACE = re.compile(r"\s+")
_MAX_GRID = 1_000_000  # positions; a sparser (hostile) table is written cell by cell instead


@dataclass(frozen=True)
class Cell:
    """One table cell: the row and column where it starts, and its text."""

    row: int
    col: int
    text: str


def table_rows(cells: list[Cell]) -> list[str]:
    """The table's rows, each `cell | cell`; rows with no text at all are left out."""
    rows = {r: i for i, r in enumerate(sorted({c.row for c in cells}))}
    cols = {c: i for i, c in enumerate(sorted({c.col for c in cells}))}
    grid: dict[int, dict[int, str]] = {}
    for cell in cells:
        grid.setdefault(rows[cell.row], {}).setdefault(cols[cell.col], _SPACE.sub(" ", cell.text).strip())
    width = len(cols) if len(rows) * len(cols) <= _MAX_GRID else 0
    lines: list[str] = []
    for _, row in sorted(grid.items()):
        if any(row.values()):
            texts = [row.get(i, "") for i in range(width)] if width else [row[i] for i in sorted(row)]
            lines.append(CELL_SEPARATOR.join(texts))
    return lines


def table_element(cells: list[Cell]) -> Element | None:
    """One `table` element holding the rows, or None when no cell has text."""
    rows = table_rows(cells)
    return Element("\n".join(rows), kind="table") if rows else None


def cell_content(elements: list[Element]) -> tuple[str, list[Element]]:
    """A cell's text on one line (its paragraphs and text boxes) and the tables nested in it."""
    text = " ".join(e.text for e in elements if e.kind != "table" and e.text.strip())
    return text, [e for e in elements if e.kind == "table"]
