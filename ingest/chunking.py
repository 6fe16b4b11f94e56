"""Structure-aware chunking measured in the embedder's tokens.

Consecutive elements that share a page and section form a block; small blocks of one section are
merged while they fit, and blocks that do not fit are split by LangChain's recursive splitter.
Tables are kept whole when they fit; a larger table is split between rows, and every chunk after
its first starts with the table's header again (cut to whole cells within half a chunk when it is
longer), so that each row is found with the column names that explain it. A row longer than a
chunk is split by the splitter, each piece still after the header. Every chunk carries the page
and section it starts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.types import Element

# Separators tried in order; the sentence enders cover Korean and CJK punctuation too.
_SEPARATORS = ["\n\n", "\n", ". ", "。", "? ", "! ", "다. ", "; ", ", ", " ", ""]
_CELL_BREAKS = (" | ", "\n")  # where a header too long to repeat whole may be cut


@dataclass(frozen=True)
class TextChunk:
    """A chunk's text with the place it starts in the document.

    `repeated_header` is the table header put again at the start of a chunk that continues a
    table (None on a table's first chunk and on every other chunk): the text after it is the
    document's own.
    """

    text: str
    page: int | None
    section: str | None
    repeated_header: str | None = None


@dataclass(frozen=True)
class _Block:
    text: str
    page: int | None
    section: str | None
    header: str | None = None  # a table's header, when the table has rows after it


class Chunker:
    """Splits parsed elements into chunks of at most `chunk_tokens` tokens."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap_tokens: int) -> None:
        self._count = count_tokens
        self._limit = chunk_tokens
        self._overlap = overlap_tokens
        self._splitter = self._make_splitter(chunk_tokens)

    def _make_splitter(self, size: int) -> RecursiveCharacterTextSplitter:
        return RecursiveCharacterTextSplitter(
            chunk_size=size,
            chunk_overlap=min(self._overlap, size // 2),
            length_function=self._count,
            separators=_SEPARATORS,
            keep_separator="end",
        )

    def chunk(self, elements: Iterable[Element]) -> list[TextChunk]:
        """Chunks in reading order; empty elements are dropped, no text is lost."""
        chunks: list[TextChunk] = []
        for block in self._merge(self._blocks(elements)):
            if self._count(block.text) <= self._limit:
                chunks.append(TextChunk(block.text, block.page, block.section))
            elif block.header is not None:
                chunks.extend(self._table_chunks(block, block.header))
            else:
                chunks.extend(self._split(block.text, block.page, block.section))
        return chunks

    def _split(self, text: str, page: int | None, section: str | None) -> Iterator[TextChunk]:
        for piece in self._splitter.split_text(text):
            if piece.strip():
                yield TextChunk(piece.strip(), page, section)

    def _table_chunks(self, block: _Block, header: str) -> Iterator[TextChunk]:
        """A table split between rows: the first chunk starts with the header, later ones repeat it."""
        rows = [line.strip() for line in block.text[len(header) :].splitlines() if line.strip()]
        repeat = self._repeatable(header)
        fresh = [repeat] if repeat else []
        if self._fits([header]):
            lines, repeated = [header], None  # the first chunk starts with the header itself
        else:
            yield from self._split(header, block.page, block.section)
            lines, repeated = list(fresh), repeat
        has_row = False
        for row in rows:
            if self._fits([*lines, row]):
                lines.append(row)
                has_row = True
                continue
            if has_row or (repeated is None and lines):  # rows, or the header alone: emit them
                yield TextChunk("\n".join(lines), block.page, block.section, repeated)
                lines, repeated, has_row = list(fresh), repeat, False
                if self._fits([*lines, row]):
                    lines.append(row)
                    has_row = True
                    continue
            yield from self._long_row(row, repeat, block)
        if has_row:
            yield TextChunk("\n".join(lines), block.page, block.section, repeated)

    def _fits(self, lines: list[str]) -> bool:
        return self._count("\n".join(lines)) <= self._limit

    def _long_row(self, row: str, repeat: str | None, block: _Block) -> Iterator[TextChunk]:
        """A row longer than a chunk, in pieces that each follow the (repeated) header."""
        if repeat is None:
            yield from self._split(row, block.page, block.section)
            return
        budget = max(1, self._limit - self._count(repeat + "\n") - 1)
        for piece in self._make_splitter(budget).split_text(row):
            if piece.strip():
                yield TextChunk(f"{repeat}\n{piece.strip()}", block.page, block.section, repeat)

    def _repeatable(self, header: str) -> str | None:
        """The header, or its leading whole cells, within half a chunk; None when no cell fits."""
        budget = self._limit // 2
        cut = header
        while self._count(cut) > budget:
            end = max(cut.rfind(sep) for sep in _CELL_BREAKS)
            if end <= 0:
                return None
            cut = cut[:end].strip()
        return cut or None

    @staticmethod
    def _blocks(elements: Iterable[Element]) -> list[_Block]:
        blocks: list[_Block] = []
        lines: list[str] = []
        key: tuple[int | None, str | None] | None = None
        for element in elements:
            text = element.text.strip()
            if not text:
                continue
            here = (element.page, element.section)
            if key is not None and (here != key or element.kind == "table"):
                blocks.append(_Block("\n".join(lines), *key))
                lines = []
            lines.append(text)
            key = here
            if element.kind == "table":  # a table is a block of its own
                blocks.append(_Block(text, *here, header=_table_header(element, text)))
                lines, key = [], None
        if lines and key is not None:
            blocks.append(_Block("\n".join(lines), *key))
        return blocks

    def _merge(self, blocks: list[_Block]) -> list[_Block]:
        """Join neighbouring blocks of one section while the result still fits one chunk."""
        merged: list[_Block] = []
        for block in blocks:
            if merged and merged[-1].section == block.section:
                joined = f"{merged[-1].text}\n\n{block.text}"
                if self._count(joined) <= self._limit:
                    merged[-1] = _Block(joined, merged[-1].page, merged[-1].section)
                    continue
            merged.append(block)
        return merged


def _table_header(element: Element, text: str) -> str | None:
    """The header a table's text starts with (its first line unless the reader said otherwise);
    None when nothing follows it."""
    header = (element.header or "").strip()
    if not header or not text.startswith(header):
        header = text.split("\n", 1)[0].strip()
    return header if text[len(header) :].strip() else None
