"""Korean tables and text boxes from HWPX and HWP files, found through the REST API.

The shared HWPX and HWP files are uploaded to `sillok serve` on its embedded default (in-process
worker, Qdrant Edge, SQLite, the multilingual model). Once the list shows them `indexed`, a
Korean question about one table row finds that row, with its cells separated and on its page,
and the title kept in a text box is found too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DOCS
from tests.e2e.helpers import SILLOK, free_port, sillok_env

pytestmark = pytest.mark.e2e

TOKEN = "hwp-search-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FILES = sorted([*(DOCS / "hwpx").glob("*.hwpx"), *(DOCS / "hwp").glob("*.hwp")])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("hwp-search")
    port = free_port()
    env = sillok_env(tmp / "data", SILLOK_BOOTSTRAP_ADMIN_TOKEN=TOKEN)
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [SILLOK, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def upload(url: str, path: Path) -> str:
    with path.open("rb") as handle:
        response = httpx.post(
            f"{url}/api/v1/documents",
            headers=AUTH,
            files={"file": (path.name, handle)},
            data={"acl": '{"public": true}'},
            timeout=120,
        )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_indexed(url: str, ids: dict[str, str]) -> None:
    """Poll the document list until every uploaded file is `indexed`; fail on `failed`."""
    deadline = time.monotonic() + 600
    while True:
        listed = httpx.get(f"{url}/api/v1/documents", headers=AUTH, timeout=30)
        assert listed.status_code == 200, listed.text
        status = {d["id"]: d for d in listed.json()["documents"] if d["id"] in ids.values()}
        failed = {d["title"]: d.get("error") for d in status.values() if d["status"] == "failed"}
        assert not failed, failed
        if len(status) == len(ids) and all(d["status"] == "indexed" for d in status.values()):
            return
        assert time.monotonic() < deadline, {d["title"]: d["status"] for d in status.values()}
        time.sleep(2)


def search(url: str, query: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{url}/api/v1/search", headers=AUTH, json={"query": query, "top_k": 10}, timeout=120
    )
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


@pytest.fixture(scope="module")
def indexed(server: str) -> dict[str, str]:
    ids = {path.name: upload(server, path) for path in FILES}
    wait_indexed(server, ids)
    return ids


def test_a_table_row_is_found_by_a_korean_question(server: str, indexed: dict[str, str]) -> None:
    hits = search(server, "칠득이의 국어 영어 수학 점수")
    top = hits[0]
    assert top["document_id"] == indexed["Table.hwpx"], [h["title"] for h in hits]
    assert "칠득이 | 77 | 77 | 77" in top["text"] and "칠득이777777" not in top["text"]
    assert top["page"] == 1
    assert top["text"].count("칠득이") == 1  # the row once, not the row and then every cell again


def test_text_in_a_text_box_is_found(server: str, indexed: dict[str, str]) -> None:
    hits = search(server, "C반 기말고사")
    assert hits[0]["document_id"] == indexed["Table.hwpx"]
    assert "C반 기말고사" in hits[0]["text"]


def test_an_hwp5_table_row_is_found_and_pages_are_the_files_own(server: str, indexed: dict[str, str]) -> None:
    hits = [
        h
        for h in search(server, "표 안에서 앞줄 맞추기 단축키")
        if h["document_id"] == indexed["minimal-body-table.hwp"]
    ]
    assert "앞줄 맞추기와 표 안에서 앞줄 맞추기 | Ctrl+Shift+Tab" in hits[0]["text"]
    # one section, two pages in Hangul's saved layout: passages cite both pages, not "section 1"
    assert {h["page"] for h in hits} == {1, 2}
