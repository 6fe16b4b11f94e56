"""Structure-aware chunking measured in the embedder's tokens.

Consecutive elements that share a page and section form a block; small blocks of one section are
merged while they fit, and blocks that do not fit are split by LangChain's recursive splitter.
Tables are kept whole when they fit. Every chunk carries the page and section it starts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.types import Element

# Separators tried in order; the sentence enders cover Korean and CJK punctuation too.
_SEPARATORS = ["\n\n", "\n", ". ", "。", "? ", "! ", "다. ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class TextChunk:
    """A chunk's text with the place it starts in the document."""

    text: str
    page: int | None
    section: str | None


class Chunker:
    """Splits parsed elements into chunks of at most `chunk_tokens` tokens."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap_tokens: int) -> None:
        self._count = count_tokens
        self._limit = chunk_tokens
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=count_tokens,
            separators=_SEPARATORS,
            keep_separator="end",
        )

    def chunk(self, elements: Iterable[Element]) -> list[TextChunk]:
        """Chunks in reading order; empty elements are dropped, no text is lost."""
        chunks: list[TextChunk] = []
        for block in self._merge(self._blocks(elements)):
            if self._count(block.text) <= self._limit:
                chunks.append(block)
                continue
            for piece in self._splitter.split_text(block.text):
                if piece.strip():
                    chunks.append(TextChunk(piece.strip(), block.page, block.section))
        return chunks

    @staticmethod
    def _blocks(elements: Iterable[Element]) -> list[TextChunk]:
        blocks: list[TextChunk] = []
        lines: list[str] = []
        key: tuple[int | None, str | None] | None = None
        for element in elements:
            text = element.text.strip()
            if not text:
                continue
            here = (element.page, element.section)
            if key is not None and (here != key or element.kind == "table"):
                blocks.append(TextChunk("\n".join(lines), *key))
                lines = []
            lines.append(text)
            key = here
            if element.kind == "table":  # a table is a block of its own
                blocks.append(TextChunk("\n".join(lines), *key))
                lines, key = [], None
        if lines and key is not None:
            blocks.append(TextChunk("\n".join(lines), *key))
        return blocks

    def _merge(self, blocks: list[TextChunk]) -> list[TextChunk]:
        """Join neighbouring blocks of one section while the result still fits one chunk."""
        merged: list[TextChunk] = []
        for block in blocks:
            if merged and merged[-1].section == block.section:
                joined = f"{merged[-1].text}\n\n{block.text}"
                if self._count(joined) <= self._limit:
                    merged[-1] = TextChunk(joined, merged[-1].page, merged[-1].section)
                    continue
            merged.append(block)
        return merged
