"""Tables as rows of cells: header rows found, spacer columns dropped, no cell text lost."""

import pytest

from ingest.parsers.tables import html_rows, table_element

pytestmark = pytest.mark.unit


def test_thead_rows_are_the_header() -> None:
    html = (
        "<table><thead><tr><th>Name</th><th>Office</th></tr><tr><th></th><th>floor</th></tr></thead>"
        "<tbody><tr><td>Kim</td><td>Seoul 3</td></tr><tr><th>Lee</th><td>Busan</td></tr></tbody></table>"
    )
    rows, header_rows = html_rows(html)
    assert header_rows == 2
    table = table_element(rows, page=2, section="Staff", header_rows=header_rows)
    assert table is not None
    assert table.text == "Name | Office\n| floor\nKim | Seoul 3\nLee | Busan"
    assert table.header == "Name | Office\n| floor"
    assert (table.page, table.section, table.kind) == (2, "Staff", "table")


def test_without_th_the_first_row_with_text_is_the_header() -> None:
    html = (
        "<table><tr><td></td><td> </td></tr><tr><td>Topic</td><td>Page</td></tr>"
        "<tr><td>Cash</td><td>5</td></tr></table>"
    )
    rows, header_rows = html_rows(html)
    table = table_element(rows, header_rows=header_rows)
    assert header_rows == 0 and table is not None
    assert table.header == "Topic | Page" and table.text == "Topic | Page\nCash | 5"


def test_columns_empty_in_every_row_are_dropped_but_empty_cells_are_kept() -> None:
    rows = [
        ["ASSETS", "", "2021", "", "2020", ""],
        ["Cash", "", "16,058", "", "5,993", ""],
        ["Goodwill", "", "", "", "1,091"],
    ]
    table = table_element(rows)
    assert table is not None
    assert table.text == "ASSETS | 2021 | 2020\nCash | 16,058 | 5,993\nGoodwill |  | 1,091"


def test_merged_cells_and_whitespace_inside_cells() -> None:
    table = table_element([["구분", "변경 전"], ["자동 투구\n판정", None], [None, None]])
    assert table is not None and table.text == "구분 | 변경 전\n자동 투구 판정"
    assert table_element([[None, " "], []]) is None


def test_spans_are_laid_out_on_a_grid_and_row_spans_repeat_down() -> None:
    html = (
        '<table><tr><td rowspan="2">a</td><td colspan="2">b</td></tr>'
        '<tr><td>c</td><td rowspan="2">d</td></tr><tr><td colspan="2">e</td></tr></table>'
    )
    assert html_rows(html) == ([["a", "b", ""], ["a", "c", "d"], ["e", "", "d"]], 0)


def test_a_span_past_the_last_cell_of_a_row_and_hostile_span_values() -> None:
    html = (
        '<table><tr><td>x</td><td rowspan="3">y</td></tr><tr><td>z</td></tr><tr></tr>'
        '<tr><td rowspan="zero" colspan="-4">w</td><td colspan="99999">v</td></tr></table>'
    )
    rows, _ = html_rows(html)
    assert rows[:3] == [["x", "y"], ["z", "y"], ["", "y"]]
    assert rows[3][:2] == ["w", "v"] and len(rows[3]) == 1 + 1_000
    table = table_element(rows)
    assert table is not None and table.text.split("\n")[-1] == "w | v"


def test_a_title_row_above_the_column_names_joins_the_header() -> None:
    table = table_element([["PAY TABLE", ""], ["Name", "Salary"], ["Kim", "90"], ["Lee", "80"]])
    assert table is not None and table.header == "PAY TABLE\nName | Salary"
    single = table_element([["only"], ["one"], ["column"]])
    assert single is not None and single.header == "only"
