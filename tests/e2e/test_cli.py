"""The contract's CLI on the embedded default: ingest with ACLs, ask, search, users, eval."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import EVAL, REPO
from tests.e2e.helpers import SILLOK, run, run_json, sillok_env

pytestmark = pytest.mark.e2e
SECRET = "The merger with Daehan Motors closes on 14 March; the code name is BLUE HERON."


def sillok(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `sillok` and return its outcome, whatever its exit status."""
    return subprocess.run([SILLOK, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("data")
    docs = tmp_path_factory.mktemp("docs")
    shutil.copytree(REPO / "samples", docs / "samples")
    (docs / "board").mkdir()
    (docs / "board" / "merger.txt").write_text(f"Board memo\n\n{SECRET}\n")
    environment = sillok_env(data, TEST_DOCS=str(docs))
    run(["users", "add", "alice", "--group", "board"], environment)
    run(["users", "add", "bob", "--email", "bob@example.com"], environment)
    out = run(["ingest", str(docs / "samples"), "--public", "--wait"], environment)
    assert out.count("indexed\t") == 2, out
    run(["ingest", str(docs / "board"), "--group", "board", "--wait"], environment)
    return environment


def test_ingest_prints_one_final_status_line_per_file(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "note.md").write_text("# Note\n\nParking is free on weekends.")
    out = run(["ingest", str(tmp_path), "--public", "--wait", "--allow-failures"], env)
    lines = sorted(out.strip().splitlines())
    assert lines[0].startswith("failed\t") and "empty" in lines[0]
    assert lines[1].startswith("indexed\t") and "note.md" in lines[1]


def test_ingest_exits_7_when_a_file_failed(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.7\nthis is not a PDF body at all\n")
    (tmp_path / "faq.md").write_text("# FAQ\n\nThe cafeteria opens at 8 am.")
    result = sillok(["ingest", str(tmp_path), "--public", "--wait"], env)
    assert result.returncode == 7, result.stderr
    assert "failed\t" in result.stdout and "scan.pdf" in result.stdout
    assert "indexed\t" in result.stdout and "faq.md" in result.stdout
    assert "--allow-failures" in result.stderr


def test_errors_end_with_the_status_of_their_class(env: dict[str, str]) -> None:
    missing = sillok(["ingest", "/no/such/folder", "--public"], env)
    assert missing.returncode == 5 and "invalid_input" in missing.stderr
    usage = sillok(["search", "x", "--as", "bob", "--top-k", "0"], env)
    assert usage.returncode == 2 and "--top-k" in usage.stderr


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        (["ask", "hello", "--as", "mallory", "--json"], "not_found", 3),
        (["search", "hello", "--as", "mallory", "--json"], "not_found", 3),
        (["search", "hello", "--as", "bob", "--top-k", "0", "--json"], "invalid_input", 2),
    ],
)
def test_json_errors_are_one_object_on_stdout(
    env: dict[str, str], args: list[str], code: str, status: int
) -> None:
    result = sillok(args, env)
    assert result.returncode == status, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert json.loads(lines[0])["error"]["code"] == code
    assert set(json.loads(lines[0])["error"]) == {"code", "message"}


def test_version_is_printed(env: dict[str, str]) -> None:
    result = sillok(["--version"], env)
    assert result.returncode == 0 and result.stdout == f"sillok {version('sillok')}\n"


def test_reingesting_identical_content_changes_nothing(env: dict[str, str]) -> None:
    before = run_json(["search", "annual leave days", "--as", "bob", "--json"], env)
    out = run(["ingest", f"{env['TEST_DOCS']}/samples/employee-handbook.md", "--public", "--wait"], env)
    assert out.startswith("indexed\t")
    after = run_json(["search", "annual leave days", "--as", "bob", "--json"], env)
    assert [r["chunk_id"] for r in before["results"]] == [r["chunk_id"] for r in after["results"]]


def test_folders_sync_by_content_and_propagate_deletions(env: dict[str, str], tmp_path: Path) -> None:
    shared = tmp_path / "shared-drive"
    (shared / "hr").mkdir(parents=True)
    (shared / "hr" / "payroll.txt").write_text("Salaries are paid on the 25th of every month.")
    (shared / "it").mkdir()
    (shared / "it" / "wifi.txt").write_text("The guest wifi password rotates every Monday.")
    (shared / "it" / "scan.pdf").write_bytes(b"%PDF-1.7\nnot a PDF body\n")
    rules = [{"prefix": str(shared / "hr"), "groups": ["board"]}, {"prefix": str(shared), "public": True}]
    synced = {
        **env,
        "SILLOK_CONNECTORS__FOLDERS": json.dumps([str(shared)]),
        "SILLOK_CONNECTORS__ACL_RULES": json.dumps(rules),
    }
    synced_once = sillok(["sync", "--wait"], synced)
    assert synced_once.returncode == 7, synced_once.stderr  # scan.pdf failed
    first = synced_once.stdout
    assert first.count("indexed\t") == 2 and first.count("failed\t") == 1, first
    assert "payroll" not in json.dumps(
        run_json(["search", "when are salaries paid", "--as", "bob", "--json"], env)
    )
    assert "25th" in json.dumps(
        run_json(["search", "when are salaries paid", "--as", "alice", "--json"], env)
    )
    (shared / "it" / "wifi.txt").unlink()
    second = run(["sync", "--wait", "--allow-failures"], synced)  # scan.pdf is still there, still failed
    assert "removed\t" in second and "wifi.txt" in second
    assert "guest wifi" not in json.dumps(
        run_json(["search", "guest wifi password", "--as", "bob", "--json"], env)
    )


def test_ask_answers_with_citations_in_english(env: dict[str, str]) -> None:
    answer = run_json(
        ["ask", "How many days of annual leave do employees get?", "--as", "bob", "--json"], env
    )
    assert answer["grounded"] is True
    assert "15 days" in answer["answer"]
    cited = answer["citations"][0]
    assert set(cited) >= {"n", "document_id", "title", "page", "snippet"}
    assert cited["title"] == "employee-handbook" and f"[{cited['n']}]" in answer["answer"]


def test_ask_answers_in_korean(env: dict[str, str]) -> None:
    answer = run_json(["ask", "노트북을 분실하면 언제까지 신고해야 하나요?", "--as", "bob", "--json"], env)
    assert answer["grounded"] is True
    assert "1시간" in answer["answer"]
    assert answer["citations"][0]["title"] == "보안-정책"


def test_unanswerable_question_is_refused_honestly(env: dict[str, str]) -> None:
    answer = run_json(
        ["ask", "What is the airspeed velocity of an unladen swallow?", "--as", "bob", "--json"], env
    )
    assert answer["grounded"] is False and answer["citations"] == []


def test_acl_is_enforced_in_search_and_answers(env: dict[str, str]) -> None:
    question = "When does the merger with Daehan Motors close?"
    alice = run_json(["search", question, "--as", "alice", "--json"], env)
    assert any("BLUE HERON" in r["text"] for r in alice["results"])
    bob = run_json(["search", question, "--as", "bob", "--json", "--top-k", "50"], env)
    assert all("HERON" not in r["text"] and r["title"] != "merger" for r in bob["results"])
    answer = run_json(["ask", question, "--as", "bob", "--json"], env)
    assert "HERON" not in json.dumps(answer)


def test_search_json_shape(env: dict[str, str]) -> None:
    result = run_json(["search", "remote work laptop", "--as", "bob", "--top-k", "3", "--json"], env)
    assert 1 <= len(result["results"]) <= 3
    assert set(result["results"][0]) >= {"document_id", "chunk_id", "title", "text", "score", "page"}


def test_users_token_prints_the_key_on_the_last_line(env: dict[str, str]) -> None:
    key = run(["users", "token", "alice"], env).strip().splitlines()[-1]
    assert key.startswith("slk_") and len(key) > 30


def test_unknown_user_is_a_clear_error(env: dict[str, str]) -> None:
    result = sillok(["ask", "hello", "--as", "mallory"], env)
    assert result.returncode == 3
    assert "not_found" in result.stderr and "Traceback" not in result.stderr


def test_eval_retrieval_prints_the_contract_json(env: dict[str, str], tmp_path: Path) -> None:
    # A slice of SciFact: the first 20 judged queries, every document they judge, and 60 others.
    qrels_lines = (EVAL / "scifact" / "qrels.tsv").read_text().splitlines()
    header, rows = qrels_lines[0], [r.split("\t") for r in qrels_lines[1:21]]
    wanted = {r[1] for r in rows}
    corpus = []
    for i, line in enumerate((EVAL / "scifact" / "corpus.jsonl").read_text().splitlines()):
        doc = json.loads(line)
        if doc["id"] in wanted or i < 60:
            corpus.append(line)
    (tmp_path / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (tmp_path / "qrels.tsv").write_text("\n".join([header, *("\t".join(r) for r in rows)]) + "\n")
    shutil.copy(EVAL / "scifact" / "queries.jsonl", tmp_path / "queries.jsonl")
    args = [
        "eval",
        "retrieval",
        "--corpus",
        str(tmp_path / "corpus.jsonl"),
        "--queries",
        str(tmp_path / "queries.jsonl"),
        "--qrels",
        str(tmp_path / "qrels.tsv"),
        "--json",
    ]
    metrics = run_json(args, env)
    keys = {
        "queries",
        "ndcg@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr@10",
        "latency_ms_p50",
        "latency_ms_p95",
    }
    assert keys <= set(metrics)
    assert metrics["queries"] == len({r[0] for r in rows})
    assert metrics["ndcg@10"] > 0.5  # a working retriever on an easy slice; random would be ~0
    again = run_json(args, env)  # the isolated collection is reused
    assert again["ndcg@10"] == metrics["ndcg@10"]


def test_bench_ingest_prints_throughput_against_raw_encode_and_langchain(
    env: dict[str, str], tmp_path: Path
) -> None:
    lines = (EVAL / "scifact" / "corpus.jsonl").read_text().splitlines()[:12]
    (tmp_path / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    result = run_json(
        ["bench", "ingest", str(tmp_path / "corpus.jsonl"), "--baseline", "langchain", "--json"], env
    )
    assert {"chunks", "seconds", "chunks_per_s", "raw_encode_chunks_per_s", "ratio_to_raw"} <= set(result)
    assert result["chunks"] >= 12 and result["langchain_chunks_per_s"] > 0
    assert result["documents"] == 12 and result["langchain_documents_per_s"] > 0
    assert 0 < result["ratio_to_raw"] <= 1.5
