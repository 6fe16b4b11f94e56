"""The tasks are Celery's own module-level tasks: a plain `celery -A … worker` runs them, a plain
`celery -A … beat` schedules them, and a second worker root in one process gets its own
services rather than the first one's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.acl import Acl
from core.settings import EmbeddingSettings, Settings
from serving.worker.bootstrap import WorkerServices
from tests.e2e.helpers import ci_requires, free_port, run, sillok_env

pytestmark = pytest.mark.e2e

CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    if shutil.which("redis-server") is None:
        ci_requires("redis-server is not installed")
    port = free_port()
    log = (tmp_path / "redis.log").open("wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)
    try:
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_plain_celery_worker_indexes_what_the_cli_ingests(tmp_path: Path, redis_port: int) -> None:
    env = sillok_env(
        tmp_path / "data",
        SILLOK_INGEST__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        SILLOK_EMBEDDING__BACKEND="sentence-transformers",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                CELERY,
                "-A",
                "serving.worker.celery_main",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "1",
                "-Q",
                "ingest,light",
                "--without-mingle",
                "--without-gossip",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        note = tmp_path / "note.md"
        note.write_text("# Parking\n\nVisitors park on level two; the code word is aubergine.\n")
        out = run(["ingest", str(note), "--public", "--wait"], env, timeout=300)
        assert out.startswith("indexed\t"), out + log_path.read_text(errors="replace")[-3000:]
        assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def test_plain_celery_beat_sends_the_reconciler_on_schedule(tmp_path: Path, redis_port: int) -> None:
    env = sillok_env(
        tmp_path / "data",
        SILLOK_INGEST__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        SILLOK_INGEST__RECONCILE_INTERVAL_S="1",
    )
    schedule = str(tmp_path / "beat-schedule")
    beat = subprocess.Popen(
        [CELERY, "-A", "serving.worker.celery_main", "beat", "-s", schedule],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        client = redis.Redis(port=redis_port)
        deadline = time.monotonic() + 60
        while client.llen("light") < 2:  # reconcile goes to the light queue, once a second
            assert beat.poll() is None and time.monotonic() < deadline, "beat sent nothing"
            time.sleep(0.2)
        assert client.llen("ingest") == 0  # beat schedules; it processes nothing itself
    finally:
        beat.terminate()
        beat.wait(timeout=60)


def _indexed_in(tmp: Path, text: str) -> str:
    """Register one document in a new worker root, run its embedded worker, return the status."""
    settings = Settings(
        data_dir=tmp / "data",
        embedding=EmbeddingSettings(backend="sentence-transformers"),
        log_level="WARNING",
    )
    container = WorkerServices(settings)
    try:
        source = tmp / "doc.md"
        source.write_text(text)
        registered = container.intake.submit(
            source, namespace="test", source=source.as_uri(), acl=Acl.of(public=True)
        )
        worker = container.embedded_worker()
        worker.start()
        try:
            container.queue.ingest(registered.document_id, registered.version)
            deadline = time.monotonic() + 120
            while True:
                status = container.documents.version(registered.document_id, registered.version).status
                if status in ("indexed", "failed") or time.monotonic() > deadline:
                    return str(status)
                time.sleep(0.2)
        finally:
            worker.stop()
    finally:
        container.close()


def test_each_container_in_a_process_gets_its_own_task_services(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    assert _indexed_in(tmp_path / "one", "# First\n\nThe first container's document.\n") == "indexed"
    # the first container is closed now; the second's document lives only in the second database
    assert _indexed_in(tmp_path / "two", "# Second\n\nThe second container's document.\n") == "indexed"
