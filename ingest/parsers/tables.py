"""Tables as text: one line per row, cells joined by ` | `, the header row(s) first and known.

Every reader that finds a table (HTML renderings from unstructured, ruled PDF tables) builds its
element here, so that the chunker can repeat the header on every chunk of a table it splits.
Columns that are empty in every row (spacers in HTML layouts and spreadsheets) are dropped, and
so are the empty cells that end a row; no cell text is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.types import Element

CELL_SEPARATOR = " | "
_MAX_ROWSPAN = 65_534  # the largest spans HTML defines
_MAX_COLSPAN = 1_000
_MAX_TITLE_ROWS = 2  # rows of one cell (a caption) looked past for the column names


def table_element(
    rows: Sequence[Sequence[str | None]],
    page: int | None = None,
    section: str | None = None,
    header_rows: int = 0,
) -> Element | None:
    """A table element from its rows of cells (None for a cell covered by a merged one).

    The first `header_rows` rows with text form the header; with none given, the rows up to the
    first with two cells of text (a title row above the column names), at most three, or else
    the first. None when no cell has text.
    """
    cleaned = [[" ".join((cell or "").split()) for cell in row] for row in rows]
    kept = [row for row in cleaned if any(row)]
    if not kept:
        return None
    width = max(len(row) for row in kept)
    used = [c for c in range(width) if any(c < len(row) and row[c] for row in kept)]
    lines = [
        CELL_SEPARATOR.join(_through_last_text([row[c] if c < len(row) else "" for c in used])).strip()
        for row in kept
    ]
    if header_rows <= 0:
        named = (i for i, row in enumerate(kept[: _MAX_TITLE_ROWS + 1]) if sum(1 for c in row if c) >= 2)
        header_rows = next(named, 0) + 1
    header = "\n".join(lines[: min(header_rows, len(lines))])
    return Element("\n".join(lines), page, section, "table", header)


def _through_last_text(cells: list[str]) -> list[str]:
    """A row's cells up to its last with text (empty cells after it hold nothing to align)."""
    last = max(i for i, cell in enumerate(cells) if cell)
    return cells[: last + 1]


def html_rows(html: str) -> tuple[list[list[str]], int]:
    """The rows of an HTML table (td and th cells) and how many lead as header rows.

    Spans are laid out on a grid: a cell spanning rows repeats its text in the rows below, so
    that every row reads whole; a cell spanning columns is read once, in its first column.
    Header rows are those in `thead` or, failing that, the leading rows made only of `th` cells.
    """
    from lxml import html as lxml_html

    root = lxml_html.fromstring(html)
    rows: list[list[str]] = []
    header_rows = 0
    leading = True
    above: dict[int, tuple[str, int]] = {}  # column -> text of a cell spanning down, rows left
    for row in root.iter("tr"):
        cells = [c for c in row if c.tag in ("td", "th")]
        texts = _grid_row(cells, above)
        if not any(t.strip() for t in texts):
            continue
        in_head = any(a.tag == "thead" for a in row.iterancestors())
        if leading and cells and (in_head or all(c.tag == "th" for c in cells)):
            header_rows += 1
        else:
            leading = False
        rows.append(texts)
    return rows, header_rows


def _grid_row(cells: list[Any], above: dict[int, tuple[str, int]]) -> list[str]:
    """One row's texts by grid column, taking the cells that span down into it from `above`
    (which it updates for the rows below)."""
    texts: list[str] = []
    spanning = dict(above)
    above.clear()

    def take_spans() -> None:
        while len(texts) in spanning:
            text, left = spanning.pop(len(texts))
            if left > 1:
                above[len(texts)] = (text, left - 1)
            texts.append(text)

    for cell in cells:
        take_spans()
        text = cell.text_content()
        rowspan = _span(cell.get("rowspan"), _MAX_ROWSPAN)
        for offset in range(_span(cell.get("colspan"), _MAX_COLSPAN)):
            if rowspan > 1:
                above[len(texts)] = (text if offset == 0 else "", rowspan - 1)
            texts.append(text if offset == 0 else "")
    for column in sorted(spanning):  # cells spanning down beyond this row's last cell
        texts.extend([""] * (column - len(texts)))
        take_spans()
    return texts


def _span(value: str | None, most: int) -> int:
    try:
        return min(max(int(value or 1), 1), most)
    except ValueError:
        return 1
