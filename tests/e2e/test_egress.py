"""Nothing leaves the premises: every process Sillok runs, traced, in a loopback-only network.

Each process kind runs in a network namespace where only `lo` exists, under `strace -f` (every
`connect`/`sendto`/`sendmsg` of every thread and child process, native code included), with a
recording name server on 127.0.0.1:53 (see `tests/e2e/egress.py`): `sillok serve` with its
embedded worker, driven over REST; a `sillok worker` on a private Redis (with the
sentence-transformers model stack) fed by `sillok ingest --wait`; the CLI's `ingest`, `ask`,
`search` and `eval retrieval` on the embedded default; and the parser child processes under all
of them, Tesseract included. Each must reach nothing but loopback and ask no name server
anything, and ONNX Runtime must leave no telemetry store in the home directory. The CLI run
starts from an empty model cache, so the first-use conversion of the e5 model (torch export,
ONNX Runtime's optimiser and quantiser) is traced as well; the others reuse the default cache,
converted once per run.

ONNX Runtime's uploader first fires about 9 s after the library is imported, so a process that
exits sooner proves little by its DNS silence; the telemetry store (written at import) catches
those, and the server and the worker are kept alive past that point. The harness is checked
too: planted connections and lookups, through the same namespace and tracer, must be caught.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.embeddings import default_cache_dir
from tests.conftest import DOCS, REPO
from tests.e2e.egress import (
    Namespace,
    http_transport,
    namespace_problem,
    stop,
    strace_problem,
    telemetry_stores,
)
from tests.e2e.helpers import SILLOK, ci_requires, free_port, sillok_env

pytestmark = pytest.mark.e2e

TOKEN = "egress-admin-token-0123456789abcdef"
HANDBOOK = REPO / "samples" / "employee-handbook.md"
KOREAN = REPO / "samples" / "보안-정책.md"
OUTLIVE_S = 20.0  # well past ONNX Runtime's first upload (about 9 s after the import)
PARSER_CHILD = "ingest.parsers.child"
CORPUS = [  # id, title, text: a tiny retrieval benchmark
    ("leave", "Annual leave", "Full-time employees get 15 days of paid annual leave in the first year."),
    ("laptop", "Lost laptops", "Report a lost company laptop to the security team within one hour."),
    ("travel", "Business travel", "Meals during business travel are reimbursed up to 50,000 KRW a day."),
    ("remote", "Remote work", "Employees may work remotely up to three days per week."),
    ("password", "Passwords", "Passwords must be at least twelve characters long and never reused."),
]
QUERIES = [("q1", "How many vacation days do new employees get?"), ("q2", "What if I lose my laptop?")]


@pytest.fixture(autouse=True)
def _harness_available() -> None:
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    problem = strace_problem()
    if problem:
        ci_requires(problem)


def env_for(tmp: Path, cache: Path | None = None, **extra: str) -> dict[str, str]:
    """Sillok's environment with a private home (where telemetry stores would appear)."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return sillok_env(
        tmp / "data",
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        SILLOK_EMBEDDING__CACHE_DIR=str(cache or default_cache_dir()),
        **extra,
    )


def check(ns: Namespace, tmp: Path) -> None:
    """No way out was tried, and ONNX Runtime's telemetry never initialised."""
    problems = ns.egress()
    assert not problems, "traffic beyond loopback:\n" + "\n".join(problems)
    stores = telemetry_stores(tmp / "home")
    assert not stores, f"ONNX Runtime's telemetry initialised: {stores}"


def sillok(ns: Namespace, args: list[str], env: dict[str, str], trace: str) -> str:
    result = ns.run([SILLOK, *args], env, trace)
    assert result.returncode == 0, f"sillok {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def traced_parser_child(ns: Namespace, trace: str) -> bool:
    text = (ns.folder / f"{trace}.strace").read_text()
    return any("execve(" in line and PARSER_CHILD in line for line in text.splitlines())


def last_json(out: str) -> dict[str, object]:
    return dict(json.loads(out.strip().splitlines()[-1]))


# --- the harness catches what it must, and only that ----------------------------------------

PLANTED = {
    "ipv4-connect-from-a-grandchild": (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "\"import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)\"])",
        "192.0.2.1:80",
    ),
    "ipv6-connect": (
        "import socket; socket.create_connection(('2001:db8::1', 443), timeout=2)",
        "2001:db8::1:443",
    ),
    "dns-lookup": ("import socket; socket.getaddrinfo('example.invalid', 80)", "example.invalid"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_harness_catches_a_planted_attempt(tmp_path: Path, name: str) -> None:
    code, needle = PLANTED[name]
    with Namespace(tmp_path / "ns") as ns:
        ns.run([sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"}, f"plant-{name}", timeout=60)
        problems = ns.egress()
    assert any(needle in p for p in problems), problems


def test_harness_allows_loopback(tmp_path: Path) -> None:
    code = (
        "import socket\n"
        "for host in ('127.0.0.1', '::1', 'localhost'):\n"
        "    try: socket.create_connection((host, 9), timeout=2)\n"
        "    except OSError: pass\n"
    )
    with Namespace(tmp_path / "ns") as ns:
        ns.run([sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"}, "loopback", timeout=60)
        assert {a.address for a in ns.attempts()} >= {"127.0.0.1", "::1"}
        assert ns.egress() == []


# --- the product ------------------------------------------------------------------------------


def test_serve_with_its_embedded_worker(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path, SILLOK_BOOTSTRAP_ADMIN_TOKEN=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    files = [HANDBOOK, *(p for p in [DOCS / "pdf" / "korean-text-with-tables.pdf"] if p.exists())]
    with Namespace(tmp_path / "ns", relay_ports=[port]) as ns:
        started = time.monotonic()
        with (tmp_path / "serve.log").open("wb") as log:
            proc = ns.popen([SILLOK, "serve", "--port", str(port)], env, "serve", log)
        client = httpx.Client(
            transport=http_transport(ns.relay(port)), base_url=f"http://127.0.0.1:{port}", timeout=60
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "sillok serve did not become ready"
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            ids = []
            for path in files:
                with path.open("rb") as handle:
                    reply = client.post(
                        "/api/v1/documents",
                        headers=auth,
                        files={"file": (path.name, handle)},
                        data={"acl": '{"public": true}'},
                    )
                assert reply.status_code == 202, reply.text
                ids.append(reply.json()["id"])
            deadline = time.monotonic() + 180
            while True:
                statuses = [client.get(f"/api/v1/documents/{i}", headers=auth).json()["status"] for i in ids]
                if all(s in ("indexed", "failed") for s in statuses) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert statuses == ["indexed"] * len(ids)
            hits = client.post(
                "/api/v1/search", headers=auth, json={"query": "remote work laptop", "top_k": 3}
            ).json()["results"]
            assert hits and hits[0]["title"] == "employee-handbook"
            body = {"message": "How many days per week can employees work remotely?"}
            answer = client.post("/api/v1/chat", headers=auth, json=body).json()
            assert answer["grounded"] and "three days" in answer["answer"]
            time.sleep(max(0.0, started + OUTLIVE_S - time.monotonic()))
        finally:
            client.close()
            stop(proc, signal.SIGTERM)
        assert traced_parser_child(ns, "serve")
        check(ns, tmp_path)


def test_worker_on_redis_and_cli_ingest(tmp_path: Path) -> None:
    redis_server = shutil.which("redis-server")
    if not redis_server:
        ci_requires("redis-server is not installed")
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    # the other model stack: torch, transformers, sentence-transformers, huggingface_hub
    backend = "sentence-transformers"
    env = env_for(tmp_path, SILLOK_INGEST__BROKER_URL=broker, SILLOK_EMBEDDING__BACKEND=backend)
    files = [HANDBOOK, *(p for p in [DOCS / "png" / "english-and-korean.png"] if p.exists())]
    with Namespace(tmp_path / "ns") as ns:
        redis_args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (tmp_path / "redis.log").open("wb") as log:
            redis = ns.popen([redis_server, *redis_args], env, None, log)
        sillok(ns, ["users", "add", "alice", "--group", "g"], env, "users-add")
        started = time.monotonic()
        with (tmp_path / "worker.log").open("wb") as log:
            worker = ns.popen([SILLOK, "worker", "--concurrency", "1"], env, "worker", log)
        try:
            out = sillok(ns, ["ingest", *map(str, files), "--group", "g", "--wait"], env, "ingest-client")
            assert out.count("indexed\t") == len(files), out
            time.sleep(max(0.0, started + OUTLIVE_S - time.monotonic()))
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        finally:
            stop(worker, signal.SIGTERM)
            redis.terminate()
            redis.wait(timeout=30)
        assert traced_parser_child(ns, "worker")
        check(ns, tmp_path)


def test_cli_from_an_empty_model_cache(tmp_path: Path) -> None:
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS)
    )
    (eval_dir / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in QUERIES)
    )
    (eval_dir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tleave\t1\nq2\tlaptop\t1\n")
    env = env_for(tmp_path, cache=tmp_path / "empty-cache")
    with Namespace(tmp_path / "ns") as ns:
        sillok(ns, ["users", "add", "alice", "--group", "g"], env, "users-add")
        out = sillok(ns, ["ingest", str(HANDBOOK), str(KOREAN), "--group", "g", "--wait"], env, "ingest")
        assert out.count("indexed\t") == 2, out
        assert list((tmp_path / "empty-cache").glob("*/model.onnx")), "the model was not converted"
        hits = last_json(sillok(ns, ["search", "remote work", "--as", "alice", "--json"], env, "search"))
        assert hits["results"]
        question = "How many days per week can employees work remotely?"
        answer = last_json(sillok(ns, ["ask", question, "--as", "alice", "--json"], env, "ask"))
        assert answer["grounded"] and "three days" in str(answer["answer"])
        files = [f"--{n}={eval_dir / n}.jsonl" for n in ("corpus", "queries")]
        args = [
            "eval",
            "retrieval",
            *files,
            f"--qrels={eval_dir / 'qrels.tsv'}",
            "--baseline",
            "langchain",
            "--json",
        ]
        metrics = last_json(sillok(ns, args, env, "eval"))
        assert metrics["queries"] == 2
        assert traced_parser_child(ns, "ingest")
        check(ns, tmp_path)
