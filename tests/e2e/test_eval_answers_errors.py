"""`sillok eval answers` against a model whose answers break off: the run finishes and counts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EVAL
from tests.e2e.helpers import run_json, sillok_env
from tests.servers.scripted_openai import Behaviour, scripted_openai

pytestmark = pytest.mark.e2e

QA = EVAL / "rag_qa_bipia_email" / "qa.jsonl"


def test_questions_the_model_fails_on_are_scored_zero_and_counted(tmp_path: Path) -> None:
    with scripted_openai(Behaviour(break_off_after=1)) as server:
        env = sillok_env(tmp_path / "data", SILLOK_LLM__BASE_URL=server.url, SILLOK_LLM__MODEL=server.model)
        result = run_json(["eval", "answers", f"--qa={QA}", "--limit", "3", "--no-inject", "--json"], env)
    assert result["questions"] == 3
    assert result["llm"] == server.model
    assert result["errors"] >= 1  # the first item is answerable and reaches the model
    assert result["answer_score_answerable"] == 0.0
    assert result["faithfulness"] == 0.0 and result["answer_sentences"] == 0
