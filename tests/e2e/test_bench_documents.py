"""`sillok bench documents` as a user runs it: a scratch PostgreSQL registry, real HTTP, a JSON
line with p50/p95 per page for the user and the admin; a second run reuses the registry; a
database holding other documents is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.helpers import SILLOK, run_json, sillok_env

pytestmark = pytest.mark.e2e


def test_bench_documents_measures_both_principals_and_reuses_its_registry(
    postgres_url: str, tmp_path: Path
) -> None:
    env = sillok_env(tmp_path / "data")
    args = ["bench", "documents", "--database-url", postgres_url, "--documents", "2000", "--groups", "20"]
    args += ["--pages", "1,10,500", "--requests", "5", "--json"]
    result = run_json(args, env)
    assert result["documents"] == 2000 and result["limit"] == 10 and result["build_seconds"] > 0
    assert result["user_documents"] == 2000 * 2 // 20  # two groups of twenty: 10%
    rows = {(r["principal"], r["case"]): r for r in result["results"]}
    assert set(rows) == {
        ("user", "page 1"),
        ("user", "page 10"),  # the user's last page (200 documents, 10 a page)
        ("user", "page 1, q=규정"),
        ("user", "page 1, status=failed"),
        ("admin", "page 1"),
        ("admin", "page 10"),
        ("admin", "page 1, q=규정"),
        ("admin", "page 1, status=failed"),
        ("user", "GET /api/v1/me (reference)"),
    }  # page 500 exists for nobody: skipped, not measured
    assert rows[("user", "page 10")]["documents_on_page"] == 10
    assert rows[("admin", "page 1")]["documents_on_page"] == 10
    for row in result["results"]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] < 5000, row

    again = run_json([*args[:-3], "--requests", "2", "--json"], env)
    assert again["build_seconds"] == 0 and again["user_documents"] == 200

    engine = create_engine(postgres_url)
    with engine.begin() as db:
        db.execute(text("UPDATE documents SET namespace = 'connector' WHERE source = 'bench:7'"))
    engine.dispose()
    refused = subprocess.run([SILLOK, *args], env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "did not write" in refused.stderr + refused.stdout
