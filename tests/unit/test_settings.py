"""Settings come from SILLOK_* variables and refuse unsafe values at start-up."""

import pytest
from pydantic import ValidationError

from core.settings import Settings

pytestmark = pytest.mark.unit


def test_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILLOK_LLM__BASE_URL", "http://127.0.0.1:8001")
    monkeypatch.setenv("SILLOK_LLM__MODEL", "qwen")
    monkeypatch.setenv("SILLOK_QDRANT__COLLECTION", "docs")
    settings = Settings()
    assert settings.llm.base_url == "http://127.0.0.1:8001"
    assert settings.qdrant.collection == "docs"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SILLOK_BOOTSTRAP_ADMIN_TOKEN", "changeme"),
        ("SILLOK_LLM__BASE_URL", "file:///etc/passwd"),
        ("SILLOK_DATABASE_URL", "mysql://x"),
        ("SILLOK_QDRANT__URL", "ftp://qdrant"),
        ("SILLOK_CHUNKING__OVERLAP_TOKENS", "5000"),
    ],
)
def test_unsafe_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_llm_url_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILLOK_LLM__BASE_URL", "http://127.0.0.1:8001")
    with pytest.raises(ValidationError):
        Settings()


def test_sqlite_under_the_data_dir_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SILLOK_DATA_DIR", str(tmp_path))
    assert Settings().sql_url == f"sqlite:///{tmp_path.resolve() / 'sillok.db'}"
