"""Chunking invariants: no text is lost, every chunk fits, pages and sections travel with it."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import Element
from ingest.chunking import Chunker, TextChunk

pytestmark = pytest.mark.unit


def count_words(text: str) -> int:
    return len(text.split())


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


words = st.text(alphabet=st.sampled_from("abc가나다 .\n"), min_size=0, max_size=400)
element = st.builds(
    Element,
    text=words,
    page=st.one_of(st.none(), st.integers(1, 5)),
    section=st.sampled_from([None, "Intro", "Leave"]),
    kind=st.sampled_from(["text", "title", "table"]),
)
elements = st.lists(element, max_size=12)


@settings(max_examples=200, deadline=None)
@given(elements)
def test_no_text_is_lost_and_every_chunk_fits(items: list[Element]) -> None:
    chunker = Chunker(count_words, chunk_tokens=20, overlap_tokens=0)
    chunks = chunker.chunk(items)
    assert squash("".join(c.text for c in chunks)) == squash("".join(e.text for e in items))
    for chunk in chunks:
        assert chunk.text.strip()
        assert count_words(chunk.text) <= 20 or len(chunk.text.split()) == 1


@settings(max_examples=100, deadline=None)
@given(elements)
def test_chunks_carry_the_page_and_section_of_their_text(items: list[Element]) -> None:
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk(items)
    places = {(e.page, e.section) for e in items}
    assert all((c.page, c.section) in places for c in chunks)


def test_small_table_stays_whole_and_large_text_is_split() -> None:
    table = Element("a | b\nc | d", page=2, kind="table")
    long = Element(" ".join(f"w{i}." for i in range(100)), page=3)
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=5).chunk([table, long])
    assert chunks[0].text == "a | b\nc | d" and chunks[0].page == 2
    assert len(chunks) > 5 and all(c.page == 3 for c in chunks[1:])


# Tables: rows of cells, sometimes with header rows the reader marked.
cells = st.text(alphabet=st.sampled_from("abc가나다 "), min_size=0, max_size=12)
rows = st.lists(cells, min_size=1, max_size=8).map(" | ".join).filter(lambda r: r.strip() != "")


@st.composite
def tables(draw: st.DrawFn) -> Element:
    lines = [r.strip() for r in draw(st.lists(rows, min_size=1, max_size=30))]
    marked = draw(st.integers(0, 2))
    header = "\n".join(lines[:marked]) if marked else None
    page = draw(st.one_of(st.none(), st.integers(1, 5)))
    section = draw(st.sampled_from([None, "Intro", "Leave"]))
    return Element("\n".join(lines), page, section, "table", header)


def own_text(chunk: TextChunk) -> str:
    """The document's own text of a chunk: without the header repeated at its start."""
    if chunk.repeated_header is None:
        return chunk.text
    assert chunk.text.startswith(chunk.repeated_header + "\n")
    return chunk.text[len(chunk.repeated_header) :]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(tables(), element), max_size=6))
def test_tables_lose_no_text_and_only_table_chunks_repeat_a_header(items: list[Element]) -> None:
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk(items)
    assert squash("".join(own_text(c) for c in chunks)) == squash("".join(e.text for e in items))
    headers = [e.header or e.text.strip().split("\n")[0] for e in items if e.kind == "table"]
    for chunk in chunks:
        assert count_words(chunk.text) <= 20 or len(chunk.text.split()) == 1
        if chunk.repeated_header is not None:  # only a table's header, or its leading cells
            assert any(h.startswith(chunk.repeated_header) for h in headers)
            assert count_words(chunk.repeated_header) <= 10


@settings(max_examples=300, deadline=None)
@given(tables())
def test_every_chunk_of_a_split_table_starts_with_its_header(table: Element) -> None:
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=5).chunk([table])
    header = table.header or table.text.split("\n")[0]
    if len(chunks) == 1 or header == table.text:
        return
    assert all((c.page, c.section) == (table.page, table.section) for c in chunks)
    if count_words(header) <= 20:
        assert chunks[0].text.startswith(header) and chunks[0].repeated_header is None
    if count_words(header) <= 10:  # short enough to be repeated whole
        assert all(c.text.startswith(header + "\n") for c in chunks[1:])
        assert all(c.repeated_header == header for c in chunks[1:] if c.text != header)


def staff_table(count: int) -> Element:
    body = [f"Person{i} | Office{i} | 010-{i:04d}" for i in range(count)]
    return Element("\n".join(["Name | Office | Phone", *body]), page=4, section="Staff", kind="table")


def test_a_large_table_is_split_between_rows_and_each_chunk_repeats_the_header() -> None:
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=5).chunk([staff_table(30)])
    assert len(chunks) == 10  # header (5 words) + 3 rows of 5 words per chunk
    assert all(c.text.startswith("Name | Office | Phone\n") for c in chunks)
    assert [c.repeated_header for c in chunks] == [None] + ["Name | Office | Phone"] * 9
    rows = [line for c in chunks for line in c.text.split("\n")[1:]]
    assert rows == staff_table(30).text.split("\n")[1:]  # every row whole, once, in order
    assert all((c.page, c.section) == (4, "Staff") for c in chunks)


def test_header_rows_the_reader_marked_are_repeated_together() -> None:
    table = Element("Q | Year\nq | 2024\n" + "\n".join(f"r{i} | v{i}" for i in range(20)), kind="table")
    marked = Element(table.text, kind="table", header="Q | Year\nq | 2024")
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk([marked])
    assert len(chunks) > 2 and all(c.text.startswith("Q | Year\nq | 2024\nr") for c in chunks)
    plain = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk([table])
    assert all(c.text.startswith("Q | Year\n") for c in plain) and not plain[1].text.startswith("Q | Year\nq")


def test_a_row_longer_than_a_chunk_is_split_with_the_header_before_each_piece() -> None:
    long_row = "Kim | " + " ".join(f"note{i}" for i in range(50))
    table = Element("Name | Notes\nLee | short\n" + long_row + "\nPark | short", kind="table")
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk([table])
    assert len(chunks) >= 4 and all(c.text.startswith("Name | Notes\n") for c in chunks)
    assert all(count_words(c.text) <= 20 for c in chunks)
    assert chunks[-1].text == "Name | Notes\nPark | short"


def test_a_header_longer_than_half_a_chunk_is_repeated_as_its_leading_cells() -> None:
    header = " | ".join(f"col{i}" for i in range(8))  # 15 words
    table = Element("\n".join([header, *(f"a{i} | b{i}" for i in range(10))]), kind="table")
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk([table])
    assert chunks[0].text.startswith(header + "\n")
    assert all(c.repeated_header == "col0 | col1 | col2 | col3 | col4" for c in chunks[1:])


def test_a_table_of_one_long_row_is_split_like_text() -> None:
    table = Element(" | ".join(f"cell{i}" for i in range(40)), kind="table")
    chunks = Chunker(count_words, chunk_tokens=20, overlap_tokens=0).chunk([table])
    assert len(chunks) > 3 and all(c.repeated_header is None for c in chunks)
