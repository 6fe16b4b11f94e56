"""Every shared HWPX and HWP file read by the product's parser registry and checked against
Hangul's own plain-text preview of the same file (`Preview/PrvText.txt`, the `PrvText` stream):
every word the preview shows is there exactly as often (so nothing is lost and nothing comes out
twice), tables are rows of separated cells, text boxes are read, and pages are real ones."""

from __future__ import annotations

import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import olefile
import pytest

from core.types import Element, ParsedDocument
from ingest.parsers import hwp5
from ingest.parsers.hwp5 import section_elements, section_stream
from ingest.parsers.hwp_pages import Pager
from ingest.parsers.registry import ParserRegistry
from tests.conftest import DOCS
from tests.unit.test_hwp5 import distribution_stream

pytestmark = pytest.mark.integration

FILES = sorted(
    p.relative_to(DOCS).as_posix()
    for folder in ("hwpx", "hwp")
    for p in (DOCS / folder).glob("*")
    if p.is_file()
)
PREVIEW_LIMIT = 1000  # Hangul cuts its preview text near 1 KB; shorter previews are the whole text
# Words the file holds that Hangul's preview leaves out: an empty-looking cell's stale text.
NOT_IN_PREVIEW = {"hwp/minimal-body-table.hwp": Counter({"2222": 1})}


def preview(path: Path) -> str:
    if path.suffix == ".hwpx":
        with zipfile.ZipFile(path) as archive:
            return archive.read("Preview/PrvText.txt").decode("utf-8")
    with olefile.OleFileIO(str(path)) as ole:
        return str(ole.openstream("PrvText").read().decode("utf-16-le"))


def words(text: str) -> Counter[str]:
    """Words, with the preview's cell brackets and the parser's cell separators taken out."""
    return Counter(w for w in re.split(r"[\s|<>]+", text) if w)


def parse(name: str, tmp_path: Path) -> ParsedDocument:
    stored = tmp_path / "blob"  # as the pipeline stores it: named by hash, without extension
    shutil.copyfile(DOCS / name, stored)
    return ParserRegistry(max_bytes=50_000_000).parse(stored, Path(name).name)


def tables(elements: tuple[Element, ...]) -> list[list[str]]:
    return [e.text.split("\n") for e in elements if e.kind == "table"]


def test_the_shared_files_are_present() -> None:
    assert {"hwpx/SimpleTable.hwpx", "hwpx/Table.hwpx", "hwp/minimal-body-table.hwp"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_every_word_of_hangul_preview_comes_out_as_often_as_the_file_has_it(
    name: str, tmp_path: Path
) -> None:
    parsed = parse(name, tmp_path)
    shown = preview(DOCS / name)
    ours = words("\n".join(e.text for e in parsed.elements))
    assert not words(shown) - ours, f"{name}: text Hangul shows is missing"
    if len(shown) < PREVIEW_LIMIT:
        assert ours - words(shown) == NOT_IN_PREVIEW.get(name, Counter()), f"{name}: text came out twice"
    repeated = [t for t, n in Counter(e.text for e in parsed.elements).items() if n > 1]
    assert not repeated, f"{name}: elements repeated: {repeated}"
    assert all(e.page is not None and e.page >= 1 for e in parsed.elements), "the file saved its layout"
    for rows in tables(parsed.elements):  # every row of a table has the table's column count
        assert len({row.count(" | ") for row in rows}) == 1, rows


def test_simple_table_is_rows_of_cells_with_the_merged_cells_in_place(tmp_path: Path) -> None:
    parsed = parse("hwpx/SimpleTable.hwpx", tmp_path)
    assert tables(parsed.elements) == [["1 |  | 2", " |  | 3", "5 | 4 | "]]
    assert len(parsed.elements) == 1 and "12354" not in parsed.elements[0].text


def test_table_hwpx_gives_its_rows_once_and_its_text_box(tmp_path: Path) -> None:
    parsed = parse("hwpx/Table.hwpx", tmp_path)
    (rows,) = tables(parsed.elements)
    assert rows[:3] == ["이름 | 국어 | 영어 | 수학", "개똥이 | 89 | 65 | 78", "칠득이 | 77 | 77 | 77"]
    assert rows[-1].startswith("합계 | ")
    texts = [e.text for e in parsed.elements if e.kind != "table"]
    assert texts == ["C반 기말고사", "날짜"]  # the title sits in a text box (hp:drawText)
    assert "개똥이" not in "\n".join(texts)


def test_hwp5_tables_and_pages_where_hangul_turned_the_page(tmp_path: Path) -> None:
    parsed = parse("hwp/minimal-body-table.hwp", tmp_path)
    first = tables(parsed.elements)[0]
    assert first[0] == "제목 | 담당자 | 세부 내용"
    page = {e.text: e.page for e in parsed.elements}
    assert page["□ 표 뒤집기(행/열 바꿈)"] == 1
    assert page["□ 표 붙이기, 표 나누기"] == 2  # its line layout starts again at the top of a page
    assert set(page.values()) == {1, 2}


def test_a_distribution_copy_of_the_shared_hwp_reads_the_same() -> None:
    """The shared section, encrypted into a `ViewText` stream as the specification describes."""
    with olefile.OleFileIO(str(DOCS / "hwp" / "minimal-body-table.hwp")) as ole:
        stored = ole.openstream("BodyText/Section0").read()
    section = section_stream(stored, hwp5.FLAG_COMPRESSED, 50_000_000)
    encrypted, _ = distribution_stream(section)
    decoded = section_stream(encrypted, hwp5.FLAG_COMPRESSED | hwp5.FLAG_DISTRIBUTION, 50_000_000)
    assert section_elements(decoded, Pager()) == section_elements(section, Pager())
    assert any("제목 | 담당자 | 세부 내용" in e.text for e in section_elements(decoded))
