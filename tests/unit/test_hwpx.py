"""HWPX reading on small OWPML sections written here: runs, tables with merged and nested cells,
text boxes, change tracking and page numbers from the saved line layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from core.errors import MalformedDocument
from core.types import Element
from ingest.parsers.hwp_pages import Pager
from ingest.parsers.hwp_tables import Cell, table_rows
from ingest.parsers.hwpx import parse_hwpx

NS = (
    'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
    'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"'
)


def lines(*positions: int) -> str:
    segs = "".join(
        f'<hp:lineseg textpos="0" vertpos="{v}" vertsize="1000" flags="393216"/>' for v in positions
    )
    return f"<hp:linesegarray>{segs}</hp:linesegarray>"


def para(body: str, *positions: int, page_break: bool = False, layout: bool = True) -> str:
    """One paragraph; `body` is its runs, `positions` its lines' vertical positions."""
    attrs = f'pageBreak="{int(page_break)}" columnBreak="0"'
    return f"<hp:p {attrs}>{body}{lines(*(positions or (0,))) if layout else ''}</hp:p>"


def run(*texts: str) -> str:
    return "".join(f"<hp:run><hp:t>{t}</hp:t></hp:run>" for t in texts)


def cell(row: int, col: int, content: str, rows: int = 1, cols: int = 1) -> str:
    return (
        f"<hp:tc><hp:subList>{content}</hp:subList>"
        f'<hp:cellAddr colAddr="{col}" rowAddr="{row}"/>'
        f'<hp:cellSpan colSpan="{cols}" rowSpan="{rows}"/></hp:tc>'
    )


def table(*rows: str) -> str:
    return "<hp:tbl>" + "".join(f"<hp:tr>{r}</hp:tr>" for r in rows) + "</hp:tbl>"


def text_box(content: str) -> str:
    return (
        f"<hp:rect><hp:drawText><hp:subList>{content}</hp:subList></hp:drawText>"
        "<hp:shapeComment>사각형입니다.</hp:shapeComment></hp:rect>"
    )


def hwpx(tmp_path: Path, *sections: str) -> Path:
    path = tmp_path / "doc.hwpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/hwp+zip")
        for number, body in enumerate(sections):
            archive.writestr(f"Contents/section{number}.xml", f"<hs:sec {NS}>{body}</hs:sec>")
    return path


def texts(elements: list[Element]) -> list[str]:
    return [e.text for e in elements]


def test_runs_of_one_paragraph_are_joined_as_written(tmp_path: Path) -> None:
    elements = parse_hwpx(hwpx(tmp_path, para(run("진천 국", "가", "대표 선수촌"))))
    assert texts(elements) == ["진천 국가대표 선수촌"]


def test_a_table_is_one_element_of_rows_and_its_cells_appear_nowhere_else(tmp_path: Path) -> None:
    grid = table(
        cell(0, 0, para(run("이름"))) + cell(0, 1, para(run("국어"))),
        cell(1, 0, para(run("개똥이"))) + cell(1, 1, para(run("89"))),
    )
    elements = parse_hwpx(hwpx(tmp_path, para(run("성적표")), para(f"<hp:run>{grid}<hp:t/></hp:run>")))
    assert [(e.kind, e.text) for e in elements] == [("text", "성적표"), ("table", "이름 | 국어\n개똥이 | 89")]


def test_merged_cells_keep_every_row_as_wide_as_the_table(tmp_path: Path) -> None:
    # the layout of SimpleTable.hwpx: "1" spans two rows and two columns, "4" two columns
    grid = table(
        cell(0, 0, para(run("1")), rows=2, cols=2) + cell(0, 2, para(run("2"))),
        cell(1, 2, para(run("3"))),
        cell(2, 0, para(run("5"))) + cell(2, 1, para(run("4")), cols=2),
    )
    (element,) = parse_hwpx(hwpx(tmp_path, para(f"<hp:run>{grid}</hp:run>")))
    assert element.kind == "table"
    assert element.text.split("\n") == ["1 |  | 2", " |  | 3", "5 | 4 | "]


def test_a_nested_table_follows_its_table_once_and_the_cell_keeps_its_own_text(tmp_path: Path) -> None:
    inner = table(cell(0, 0, para(run("내부 A"))) + cell(0, 1, para(run("내부 B"))))
    outer = table(
        cell(0, 0, para(run("바깥"))) + cell(0, 1, para(run("설명")) + para(f"<hp:run>{inner}</hp:run>"))
    )
    elements = parse_hwpx(hwpx(tmp_path, para(f"<hp:run>{outer}</hp:run>")))
    assert [(e.kind, e.text) for e in elements] == [("table", "바깥 | 설명"), ("table", "내부 A | 내부 B")]


def test_text_boxes_and_grouped_shapes_are_read_once_without_generated_comments(tmp_path: Path) -> None:
    group = f"<hp:container>{text_box(para(run('묶음 안')))}</hp:container>"
    body = f"<hp:run><hp:t>앞</hp:t>{text_box(para(run('글상자')))}<hp:t>뒤</hp:t>{group}</hp:run>"
    elements = parse_hwpx(hwpx(tmp_path, para(body)))
    assert texts(elements) == ["앞 뒤", "글상자", "묶음 안"]  # a box between words parts them


def test_captions_headers_text_art_and_glossed_text_are_read(tmp_path: Path) -> None:
    captioned = (
        f"<hp:tbl><hp:caption><hp:subList>{para(run('표 1 매출'))}</hp:subList></hp:caption>"
        f"<hp:tr>{cell(0, 0, para(run('값')))}</hp:tr></hp:tbl>"
    )
    header = f"<hp:ctrl><hp:header><hp:subList>{para(run('머리말'))}</hp:subList></hp:header></hp:ctrl>"
    art = '<hp:textart text="글맵시 제목"/>'
    gloss = "<hp:dutmal><hp:mainText>본말</hp:mainText><hp:subText>덧말</hp:subText></hp:dutmal>"
    body = f"<hp:run>{header}{captioned}{art}{gloss}</hp:run>"
    elements = parse_hwpx(hwpx(tmp_path, para(body)))
    assert texts(elements) == ["본말", "머리말", "표 1 매출", "값", "글맵시 제목"]


def test_inline_marks_and_change_tracking(tmp_path: Path) -> None:
    body = (
        "<hp:run><hp:t>변경<hp:deleteBegin/> 지운 글<hp:deleteEnd/> 추적<hp:tab/>탭"
        "<hp:lineBreak/>다음 줄</hp:t></hp:run>"
    )
    assert texts(parse_hwpx(hwpx(tmp_path, para(body)))) == ["변경 추적\t탭\n다음 줄"]


def test_pages_follow_breaks_line_positions_and_sections(tmp_path: Path) -> None:
    first = para(run("첫 쪽"), 0) + para(run("여전히 첫 쪽"), 1600, 3200) + para(run("둘째 쪽"), 0)
    breaks = para(run("넘겨서 셋째 쪽"), 0, page_break=True) + para(run("셋째에서 넷째로"), 1600, 0)
    after = para(run("넷째 쪽"), 1600)
    path = hwpx(tmp_path, first + breaks + after, para(run("새 구역은 새 쪽"), 0))
    pages = [(e.text, e.page) for e in parse_hwpx(path)]
    assert pages == [
        ("첫 쪽", 1),
        ("여전히 첫 쪽", 1),
        ("둘째 쪽", 2),
        ("넘겨서 셋째 쪽", 3),
        ("셋째에서 넷째로", 3),
        ("넷째 쪽", 4),
        ("새 구역은 새 쪽", 5),
    ]


def test_columns_fill_before_the_page_turns(tmp_path: Path) -> None:
    columns = '<hp:run><hp:ctrl><hp:colPr colCount="2"/></hp:ctrl><hp:t>첫 단</hp:t></hp:run>'
    body = para(columns, 0, 1600) + para(run("둘째 단"), 0, 1600) + para(run("다음 쪽"), 0)
    assert [e.page for e in parse_hwpx(hwpx(tmp_path, body))] == [1, 1, 2]


def test_without_a_saved_layout_no_page_is_claimed(tmp_path: Path) -> None:
    body = para(run("배치 정보 없음"), layout=False) + para(run("다음"), 0, page_break=True)
    assert [e.page for e in parse_hwpx(hwpx(tmp_path, body))] == [None, None]


def test_damaged_xml_is_a_malformed_document(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="HWPX"):
        parse_hwpx(hwpx(tmp_path, "<hp:p><hp:run>"))


def test_rows_skip_empty_rows_and_hostile_sparse_tables_stay_small() -> None:
    assert table_rows([Cell(0, 0, "a"), Cell(1, 0, " "), Cell(2, 1, "b")]) == ["a | ", " | b"]
    diagonal = [Cell(i, i, str(i)) for i in range(2000)]  # 4 million positions if laid out
    assert table_rows(diagonal)[:2] == ["0", "1"]


def test_pager_counts_a_paragraph_running_on_to_the_next_page() -> None:
    pager = Pager()
    assert pager.paragraph([0, 60000, 0, 1600]) == 1  # starts on page 1, ends on page 2
    assert pager.paragraph([3200]) == 2
    assert pager.complete
