"""Every document in ../shared/data/docs uploaded through the REST API of `sillok serve`.

The server runs on its embedded default (in-process Celery transport and worker, Qdrant Edge,
SQLite, the multilingual model). Each file must end `indexed` or `failed` with a reason a person
understands, the worker must survive all of them, and Korean text from the PDFs and the HWP
file must be found by search.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOCS
from tests.e2e.helpers import SILLOK, free_port, sillok_env

pytestmark = pytest.mark.e2e

TOKEN = "rest-admin-token-0123456789abcdef"
MAX_CHUNKS = 150  # larger documents fail as too large, which keeps this test's embedding work small
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPECTED_FAILURES = {
    "zip/simple.zip": "unsupported_format",
    "pdf/password.pdf": "encrypted",
    "xlsx/password_protected.xlsx": "encrypted",
    "eml/fake-encrypted.eml": "encrypted",
    "msg/fake-encrypted.msg": "encrypted",
    "txt/empty.txt": "empty_document",
    "txt/fake-text-all-whitespace.txt": "empty_document",
    "xlsx/empty.xlsx": "empty_document",
    "eml/empty.eml": "empty_document",
    "pdf/pdf2image-memory-error-test-400p.pdf": "too_large",
    "txt/book-war-and-peace-1225p.txt": "too_large",
}
KOREAN_QUERIES = {
    "korean-text-with-tables": "할인점 주유 온라인쇼핑몰 빅포인트 적립",
    "minimal-body-table": "표 만들기 셀 편집 담당자 세부 내용",
}


def shared_documents() -> list[Path]:
    return sorted(
        p for p in DOCS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv" and "_licenses" not in p.parts
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("rest")
    port = free_port()
    env = sillok_env(
        tmp / "data",
        SILLOK_BOOTSTRAP_ADMIN_TOKEN=TOKEN,
        SILLOK_INGEST__MAX_CHUNKS=str(MAX_CHUNKS),
        SILLOK_INGEST__PARSE_TIMEOUT_S="120",
    )
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [SILLOK, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp / "serve.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def upload(url: str, path: Path, name: str | None = None) -> str:
    with path.open("rb") as handle:
        response = httpx.post(
            f"{url}/api/v1/documents",
            headers=AUTH,
            files={"file": (name or path.name, handle)},
            data={"acl": '{"public": true}', "source_url": f"test:{path.relative_to(DOCS)}"},
            timeout=120,
        )
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "indexed", "failed")
    return str(response.json()["id"])


def test_every_shared_document_reaches_a_final_status_with_a_reason(server: str) -> None:
    files = shared_documents()
    ids = {str(p.relative_to(DOCS)): upload(server, p) for p in files}
    started = time.monotonic()
    final: dict[str, dict[str, object]] = {}
    names = {document_id: name for name, document_id in ids.items()}
    while len(final) < len(ids) and time.monotonic() - started < 1200:
        params = {"limit": 200}  # every upload on one page (the list is paginated, 50 by default)
        response = httpx.get(f"{server}/api/v1/documents", headers=AUTH, params=params, timeout=30)
        assert response.status_code == 200, response.text
        for doc in response.json()["documents"]:
            if doc["id"] in names and doc["status"] in ("indexed", "failed"):
                final[names[doc["id"]]] = doc
        time.sleep(2)
    seconds = time.monotonic() - started
    assert set(final) == set(ids), f"not final after {seconds:.0f} s: {sorted(set(ids) - set(final))}"

    failed = {name: doc for name, doc in final.items() if doc["status"] == "failed"}
    indexed = len(final) - len(failed)
    print(f"{len(files)} files: {indexed} indexed, {len(failed)} failed, all final in {seconds:.0f} s")
    for name, doc in sorted(failed.items()):
        print(f"  failed {name}: ({doc['error_code']}) {doc['error']}")
        reason = str(doc["error"] or "")
        assert len(reason) > 15 and "Traceback" not in reason and "Error:" not in reason, (name, reason)
    for name, code in EXPECTED_FAILURES.items():
        assert final[name]["status"] == "failed" and final[name]["error_code"] == code, (name, final[name])
    unexpected = (
        set(failed)
        - set(EXPECTED_FAILURES)
        - {n for n, d in failed.items() if d["error_code"] == "too_large"}
    )
    assert not unexpected, {n: failed[n]["error"] for n in unexpected}
    assert (
        final["pdf/korean-text-with-tables.pdf"]["chunks"] and final["hwp/minimal-body-table.hwp"]["chunks"]
    )

    # the worker survived every file: new work is still processed, and search finds Korean text
    sample = DOCS / "md" / "README.md"
    again = upload(server, sample, "after-all.md")
    deadline = time.monotonic() + 120
    while httpx.get(f"{server}/api/v1/documents/{again}", headers=AUTH).json()["status"] != "indexed":
        assert time.monotonic() < deadline, "the worker stopped processing"
        time.sleep(1)
    for stem, query in KOREAN_QUERIES.items():
        hits = httpx.post(
            f"{server}/api/v1/search", headers=AUTH, json={"query": query, "top_k": 3}, timeout=60
        ).json()["results"]
        assert stem in [h["title"] for h in hits], (query, [h["title"] for h in hits])
