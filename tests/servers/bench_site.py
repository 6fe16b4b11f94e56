"""A site for `sillok bench serve`: a scripted model with a fixed first-token latency, a real
`sillok serve` on the embedded default with the samples indexed, and one user and key per
session (so the per-user rate limit measures nothing). Extra arguments go to the benchmark:

    .venv/bin/python -m tests.servers.bench_site --sessions 1,10,20 --turns 3 --duration 30 --json
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.e2e.helpers import SILLOK, free_port, sillok_env, wait_serving
from tests.servers.scripted_openai import Behaviour, scripted_openai

ADMIN_TOKEN = "bootstrap-" + "s9" * 16
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
USERS = int(os.environ.get("BENCH_USERS", "20"))
MAX_CONCURRENT = os.environ.get("BENCH_MAX_CONCURRENT", "32")
# A model that starts answering after 200 ms and writes 31 more pieces 20 ms apart.
MODEL = Behaviour(
    reply=" ".join(["Employees may work remotely up to three days per week [1]."] * 4),
    first_token_delay_s=0.2,
    piece_delay_s=0.02,
)


def index_samples(base: str, headers: dict[str, str], timeout_s: float = 300) -> None:
    """Upload `samples/` for everyone through the REST API and wait until they are indexed."""
    ids = []
    for path in sorted((REPO / "samples").iterdir()):
        with path.open("rb") as handle:
            reply = httpx.post(
                f"{base}/api/v1/documents",
                headers=headers,
                files={"file": (path.name, handle)},
                data={"acl": '{"public": true}'},
                timeout=60,
            )
        reply.raise_for_status()
        ids.append(reply.json()["id"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        docs = httpx.get(f"{base}/api/v1/documents", headers=headers, timeout=30).json()["documents"]
        status = {d["id"]: d["status"] for d in docs}
        if all(status.get(i) == "indexed" for i in ids):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the samples were not indexed: {status}")


def _keys(base: str) -> list[str]:
    keys = []
    for i in range(USERS):
        httpx.post(f"{base}/api/v1/users", json={"username": f"bench{i}"}, headers=ADMIN).raise_for_status()
        reply = httpx.post(f"{base}/api/v1/users/bench{i}/api-keys", headers=ADMIN)
        keys.append(reply.raise_for_status().json()["key"])
    return keys


def main(args: list[str]) -> int:
    """Set the site up, run the benchmark against it, take it down; returns its exit status."""
    with tempfile.TemporaryDirectory() as data, scripted_openai(MODEL) as model:
        env = sillok_env(
            Path(data),
            SILLOK_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN,
            SILLOK_LLM__BASE_URL=model.url,
            SILLOK_LLM__MODEL=model.model,
            SILLOK_LLM__MAX_CONCURRENT=MAX_CONCURRENT,
            SILLOK_LOG_LEVEL="WARNING",
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(data) / "serve.log"
        with log.open("w") as sink:
            server = subprocess.Popen([SILLOK, "serve", "--port", str(port)], env=env, stderr=sink)
        try:
            wait_serving(base, server, log.read_text, 300)
            index_samples(base, ADMIN)
            bench_env = {**env, "SILLOK_BENCH_TOKEN": ",".join(_keys(base))}
            return subprocess.call([SILLOK, "bench", "serve", "--url", base, *args], env=bench_env)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
