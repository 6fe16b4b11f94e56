"""Page numbers of HWP 5 and HWPX body paragraphs, from the layout the word processor saved.

Neither format stores page numbers, but Hangul saves each paragraph's line layout (HWP 5
`PARA_LINE_SEG`, HWPX `hp:lineseg`): every line's vertical position on its page or column. A line
that starts above the line before it opened a new column, or a new page once the page's columns
are used up. Explicit page breaks, column breaks and section starts count as well. Where a new
column layout begins, its first line is measured from the top of that layout, so it says
nothing about a new page. A file written without that layout (by other tools) has no knowable
pages, so its elements get none rather than wrong ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

from core.types import Element


class Pager:
    """Follows the body paragraphs of a document in order and says the page each one starts on."""

    def __init__(self) -> None:
        self.page = 0
        self.complete = True  # every body paragraph carried its line layout
        self._columns = 1
        self._column = 0
        self._last: int | None = None  # vertical position of the last line seen
        self._section_start = True
        self._layout_start = False

    def start_section(self) -> None:
        """A new section begins, and with it a new page."""
        self._section_start = True

    def set_columns(self, count: int) -> None:
        """A column definition: the page is now laid out in `count` columns, the first one next."""
        self._columns = max(1, count)
        self._column = 0
        self._layout_start = True

    def paragraph(self, lines: Sequence[int], page_break: bool = False, column_break: bool = False) -> int:
        """The page on which a paragraph starts, given its lines' vertical positions in order."""
        if not lines:
            self.complete = False
        if self._section_start or page_break:
            self._new_page()
            self._section_start = False
        elif column_break or (
            not self._layout_start and lines and self._last is not None and lines[0] < self._last
        ):
            self._next_column()
        self._layout_start = False
        start = self.page
        for before, after in pairwise(lines):
            if after < before:  # the paragraph itself runs on into the next column or page
                self._next_column()
        if lines:
            self._last = lines[-1]
        return start

    def finish(self, elements: list[Element]) -> list[Element]:
        """The elements as they are when the layout was complete, otherwise without pages."""
        return elements if self.complete else [replace(e, page=None) for e in elements]

    def _new_page(self) -> None:
        self.page += 1
        self._column = 0

    def _next_column(self) -> None:
        self._column += 1
        if self._column >= self._columns:
            self._new_page()
