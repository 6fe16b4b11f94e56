"""The README's run command, exactly as written: `./scripts/run-demo` ends with `sillok serve`
answering a question about the sample documents with citations."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.helpers import free_port

pytestmark = pytest.mark.e2e


def test_run_demo_serves_cited_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILLOK_")}
    env.update({"PORT": str(port), "SILLOK_DATA_DIR": str(tmp_path / "data")})
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        ["./scripts/run-demo"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert proc.poll() is None, Path(log.name).read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        output = Path(log.name).read_text()
        key = re.search(r"Bearer (slk_[\w-]+)", output)
        assert key, output
        reply = httpx.post(
            f"{base}/api/v1/chat",
            json={"message": "How many days of annual leave do I get?"},
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=120,
        ).json()
        assert reply["grounded"] and "15 days" in reply["answer"]
        assert reply["citations"][0]["title"] == "employee-handbook"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
