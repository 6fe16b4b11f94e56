"""Chunking invariants: no text is lost, every chunk fits, pages and sections travel with it."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import Element
from ingest.chunking import Chunker

pytestmark = pytest.mark.unit


def count_words(text: str) -> int:
    return len(text.split())


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


words = st.text(alphabet=st.sampled_from("abc가나다 .\n"), min_size=0, max_size=400)
elements = st.lists(
    st.builds(
        Element,
        text=words,
        page=st.one_of(st.none(), st.integers(1, 5)),
        section=st.sampled_from([None, "Intro", "Leave"]),
        kind=st.sampled_from(["text", "title", "table"]),
    ),
    max_size=12,
)


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
