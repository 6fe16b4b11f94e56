"""Real Redis, real Celery worker processes, a real API: kill them mid-batch and lose nothing.

The worker process owns the embedded Qdrant Edge shard (no Qdrant server runs here); the API
only accepts uploads. After every crash the registry and the stored points must agree exactly:
each accepted document indexed once, one point per (document, version, chunk), no orphans.
"""

from __future__ import annotations

import collections
import http.client
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from core.db.engine import make_engine, session_factory
from core.db.models import Document
from core.documents import DocumentRegistry
from core.vectors.qdrant_edge import QdrantEdgeIndex
from tests.e2e.helpers import SILLOK, free_port, sillok_env

pytestmark = pytest.mark.e2e

TOKEN = "chaos-admin-token-0123456789abcdef"
BATCH = 40
TOPICS = ("payroll", "security", "travel", "onboarding", "procurement", "facilities", "hiring", "audit")


def document_text(n: int) -> str:
    """A distinct, several-chunk policy document."""
    topic = TOPICS[n % len(TOPICS)]
    lines = [f"Policy {n}: {topic} rules (marker DOC{n:03d})."]
    lines += [
        f"Section {s} of policy {n}. Employees handling {topic} must record step {s} "
        f"in the ledger within {s + n % 7} days and notify their manager about case {n * 100 + s}."
        for s in range(40)
    ]
    return "\n\n".join(lines)


class Stack:
    """Redis, the API and one worker as separate processes that a test can kill."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.redis_port, self.api_port = free_port(), free_port()
        self.env = sillok_env(
            tmp / "data",
            SILLOK_DATABASE_URL=database_url,
            SILLOK_EMBEDDING__BACKEND="sentence-transformers",
            SILLOK_BOOTSTRAP_ADMIN_TOKEN=TOKEN,
            SILLOK_INGEST__BROKER_URL=self.broker,
            SILLOK_INGEST__EMBEDDED_WORKER="false",
            SILLOK_INGEST__VISIBILITY_TIMEOUT_S="30",
            SILLOK_INGEST__REQUEUE_AFTER_S="6",
            SILLOK_INGEST__STALE_AFTER_S="12",
            SILLOK_INGEST__RECONCILE_INTERVAL_S="2",
            SILLOK_LOG_LEVEL="INFO",
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: collections.Counter[str] = collections.Counter()

    @property
    def broker(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _spawn(self, name: str, args: list[str]) -> None:
        self.starts[name] += 1
        log = (self.tmp / f"{name}-{self.starts[name]}.log").open("wb")
        self.procs[name] = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start_redis(self) -> None:
        self._spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
        )
        client = redis.Redis(port=self.redis_port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("redis did not start")

    def start_api(self) -> None:
        self._spawn("api", [SILLOK, "serve", "--port", str(self.api_port)])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError("the API did not start: " + self.log("api"))

    def start_worker(self) -> None:
        self._spawn("worker", [SILLOK, "worker", "--concurrency", "2"])

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=60)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}-{self.starts[name]}.log").read_text(errors="replace")[-3000:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def upload(self, n: int) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/documents",
            headers={"Authorization": f"Bearer {TOKEN}"},
            files={"file": (f"policy-{n:03d}.txt", document_text(n).encode(), "text/plain")},
            data={"acl": '{"groups": ["staff"]}'},
            timeout=60,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    stack = Stack(tmp_path, postgres_url)
    stack.start_redis()
    try:
        yield stack
    finally:
        stack.close()


def statuses(registry_url: str) -> dict[str, str]:
    engine = make_engine(registry_url)
    with session_factory(engine)() as session:
        rows = {d.id: d.status for d in session.query(Document).all()}
    engine.dispose()
    return rows


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def interrupted_upload(stack: Stack, started: threading.Event) -> None:
    """Stream a large upload slowly; the API is killed before it ends."""
    boundary = "sillokboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut-off.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    connection = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=30)
    try:
        connection.putrequest("POST", "/api/v1/documents")
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + 200 * 10_000))
        connection.endheaders()
        connection.send(head)
        for _ in range(200):
            connection.send(b"x" * 10_000)
            started.set()
            time.sleep(0.05)
        connection.getresponse()
    except OSError:
        pass  # the server went away mid-body: this upload was never accepted
    finally:
        connection.close()


def test_crashes_lose_nothing_and_duplicate_nothing(stack: Stack, postgres_url: str) -> None:
    stack.start_api()
    stack.start_worker()
    accepted = [stack.upload(n) for n in range(20)]

    # 1. kill -9 the worker while it is indexing, then start a new one
    wait_until(lambda: list(statuses(postgres_url).values()).count("indexed") >= 3, 180, "first documents")
    stack.kill("worker")
    indexed_at_kill = list(statuses(postgres_url).values()).count("indexed")
    assert indexed_at_kill < BATCH, "the batch finished before the worker was killed"
    stack.start_worker()
    accepted += [stack.upload(n) for n in range(20, 28)]

    # 2. restart Redis (empty: no persistence) mid-batch; uploads meanwhile are still accepted
    stack.kill("redis")
    accepted += [stack.upload(n) for n in range(28, 32)]
    stack.start_redis()

    # 3. kill the API in the middle of an upload, restart it, go on uploading
    started = threading.Event()
    cut = threading.Thread(target=interrupted_upload, args=(stack, started))
    cut.start()
    assert started.wait(30)
    stack.kill("api")
    cut.join(timeout=60)
    stack.start_api()
    accepted += [stack.upload(n) for n in range(32, BATCH)]
    assert len(set(accepted)) == BATCH

    wait_until(
        lambda: all(statuses(postgres_url).get(d) == "indexed" for d in accepted),
        420,
        "all documents indexed",
    )

    # 4. duplicate delivery of every task leaves the same end state
    registry = DocumentRegistry(session_factory(make_engine(postgres_url)))
    before = {d: (registry.get(d).current_version, registry.get(d).chunk_count) for d in accepted}
    producer = Celery(broker=stack.broker, set_as_current=False)
    for document_id, (version, _) in before.items():
        for _ in range(2):
            producer.send_task("sillok.ingest_version", args=[document_id, version], queue="ingest")
            producer.send_task("sillok.apply_acl", args=[document_id], queue="light")
    broker = redis.Redis(port=stack.redis_port)
    wait_until(lambda: broker.llen("ingest") == 0 and broker.llen("light") == 0, 120, "duplicates consumed")
    time.sleep(3)
    stack.kill("worker", signal.SIGTERM)
    stack.kill("api", signal.SIGTERM)

    after = {d: (registry.get(d).current_version, registry.get(d).chunk_count) for d in accepted}
    assert after == before
    assert set(statuses(postgres_url)) == set(accepted)  # the cut-off upload was never registered

    index = QdrantEdgeIndex(stack.tmp / "data" / "qdrant")
    points = index.points()
    index.close()
    per_chunk = collections.Counter((p.document_id, p.version, p.chunk_index) for p in points)
    duplicates = sum(1 for count in per_chunk.values() if count > 1)
    orphans = sum(1 for doc, version, _ in per_chunk if before.get(doc, (None,))[0] != version)
    lost = sum(
        1
        for doc, (version, chunks) in before.items()
        for i in range(chunks)
        if (doc, version, i) not in per_chunk
    )
    print(
        f"accepted={len(accepted)} indexed_when_worker_killed={indexed_at_kill} points={len(points)} "
        f"lost_chunks={lost} duplicate_points={duplicates} orphan_points={orphans} "
        f"worker_starts={stack.starts['worker']} redis_starts={stack.starts['redis']} "
        f"api_starts={stack.starts['api']}"
    )
    assert (lost, duplicates, orphans) == (0, 0, 0)
    assert len(points) == sum(chunks for _, chunks in before.values())
