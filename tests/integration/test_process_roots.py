"""Each process builds only what it uses: checked in fresh interpreters, by what they imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
INGESTION = ("ingest.pipeline", "ingest.parsers.sandbox", "ingest.chunking", "ingest.connectors.runs")
WEB = ("fastapi", "starlette", "uvicorn", "serving.api.app")


def _imported_after(script: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter holds after running `script`."""
    code = textwrap.dedent(script) + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SILLOK_DATA_DIR": str(tmp_path / "data"),
        "SILLOK_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_an_api_on_a_broker_takes_uploads_without_the_ingestion_side(tmp_path: Path) -> None:
    (tmp_path / "memo.txt").write_text("The offsite is in Jeju.")
    modules = _imported_after(
        f"""
        from fastapi.testclient import TestClient
        from core.settings import Settings
        from serving.api.app import create_app
        from serving.api.bootstrap import build_api

        ingest = {{"broker_url": "memory://", "embedded_worker": False}}
        api = build_api(Settings(bootstrap_admin_token="t" * 32, ingest=ingest))
        with TestClient(create_app(api)) as client:
            auth = {{"Authorization": "Bearer " + "t" * 32}}
            with open({str(tmp_path / "memo.txt")!r}, "rb") as handle:
                reply = client.post("/api/v1/documents", headers=auth, files={{"file": ("memo.txt", handle)}})
            assert reply.status_code == 202, reply.text
            assert client.get("/api/v1/documents", headers=auth).json()["documents"][0]["status"] == "queued"
        api.close()
        """,
        tmp_path,
    )
    assert not modules & set(INGESTION)
    assert "sentence_transformers" not in modules and "onnxruntime" not in modules  # no model loaded


def test_a_worker_processes_a_document_without_the_web_app(tmp_path: Path) -> None:
    (tmp_path / "memo.txt").write_text("The offsite is in Jeju.")
    modules = _imported_after(
        f"""
        from pathlib import Path
        from core.acl import Acl
        from core.settings import Settings
        from serving.worker.bootstrap import build_worker

        worker = build_worker(Settings(embedding={{"backend": "sentence-transformers"}}))
        reg = worker.intake.submit(Path({str(tmp_path / "memo.txt")!r}), namespace="connector",
                                   source="file:///memo.txt", acl=Acl.of(public=True))
        assert worker.pipeline.process(reg.document_id, reg.version).status.value == "indexed"
        worker.close()
        """,
        tmp_path,
    )
    assert not modules & set(WEB)
    assert "ingest.pipeline" in modules  # the check sees what was imported
