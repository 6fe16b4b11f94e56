"""`sillok bench serve` against a running `sillok serve` whose model is a scripted server: the
report has every level, nothing fails below capacity, the direct requests carry exactly the
prompts Sillok sends, and an overload phase sees Sillok's refusals."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import SILLOK, free_port, run_json, sillok_env, wait_serving
from tests.servers.bench_site import index_samples
from tests.servers.scripted_openai import Behaviour, ScriptedOpenAI, scripted_openai

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "bootstrap-" + "b5" * 16
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_CONCURRENT = 4
# Slow enough that a burst of sessions outlasts the admission queue's half second.
BEHAVIOUR = Behaviour(
    reply="Employees may work remotely up to three days per week [1].",
    first_token_delay_s=0.3,
    piece_delay_s=0.05,
)
REQUESTS = 6


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], ScriptedOpenAI]]:
    data = tmp_path_factory.mktemp("data")
    with scripted_openai(BEHAVIOUR) as llm:
        env = sillok_env(
            data,
            SILLOK_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN,
            SILLOK_LLM__BASE_URL=llm.url,
            SILLOK_LLM__MODEL=llm.model,
            SILLOK_LLM__MAX_CONCURRENT=str(MAX_CONCURRENT),
        )
        port = free_port()
        log = data / "serve.log"
        with log.open("w") as sink:
            proc = subprocess.Popen([SILLOK, "serve", "--port", str(port)], env=env, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_serving(base, proc, log.read_text, 180)
            index_samples(base, ADMIN, 120)
            assert httpx.post(f"{base}/api/v1/users", json={"username": "bench"}, headers=ADMIN).is_success
            key = httpx.post(f"{base}/api/v1/users/bench/api-keys", headers=ADMIN).json()["key"]
            yield {**env, "SILLOK_BENCH_TOKEN": key, "BASE": base}, llm
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _spread(value: dict[str, Any]) -> None:
    assert set(value) == {"p50", "p95", "p99"}
    assert value["p50"] is not None and value["p50"] <= value["p95"] <= value["p99"]


def test_levels_pair_each_question_with_the_prompt_sillok_sends(
    site: tuple[dict[str, str], ScriptedOpenAI],
) -> None:
    env, llm = site
    llm.reset(BEHAVIOUR)
    args = ["bench", "serve", "--url", env["BASE"], "--sessions", "1,4", "--turns", "2"]
    report = run_json([*args, "--requests", str(REQUESTS), "--overload", "16", "--json"], env)

    assert [level["sessions"] for level in report["levels"]] == [1, 4]
    for level in report["levels"]:
        assert level["requests"] == level["pairs"] == REQUESTS
        assert level["errors"] == {} and level["error_rate"] == 0.0 and level["rate_429"] == 0.0
        assert level["direct_errors"] == {}
        for name in ("sillok_ttft_ms", "direct_ttft_ms", "overhead_ms", "follow_up_overhead_ms"):
            _spread(level[name])
        # Through Sillok the first token waits for the model's first token too.
        assert level["sillok_ttft_ms"]["p50"] >= 300 and level["direct_ttft_ms"]["p50"] >= 300

    # Every prompt of the paired levels (which come before the overload phase) was sent twice:
    # once by Sillok and once straight by the bench.
    paired = 2 * (report["warm_up_pairs"] + sum(level["pairs"] for level in report["levels"]))
    streamed = [body["messages"] for body in llm.requests if body.get("stream")]
    prompts = Counter(json.dumps(messages) for messages in streamed[:paired])
    assert prompts and all(count % 2 == 0 for count in prompts.values()), prompts.most_common(3)

    overload = report["overload"]
    assert overload["sessions"] == 16 and overload["attempts"] >= 16  # each session asks once at least
    assert overload["rejected"] > 0 and set(overload["rejected_by_status"]) <= {"429", "503"}
    assert overload["rejection_ms"]["p50"] is not None
