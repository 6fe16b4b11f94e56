"""`sillok serve` behind a real OpenAI-compatible server (llama-cpp-python with SmolLM2-135M):
follow-ups retrieved in the conversation's context through REST and the OpenAI SDK, unknown
model names refused, a Korean refusal, and admission control: questions beyond the model's
slots are refused at once with 429 and `Retry-After`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.e2e.helpers import SILLOK, ci_requires, free_port, run, sillok_env, wait_serving
from tests.e2e.test_followups_and_languages import LEAVE, ONBOARDING, cited_titles
from tests.servers.llama import llama_server, unavailable_reason

pytestmark = pytest.mark.e2e
REFUSAL_KO = "열람 가능한 문서에서 이 질문의 답을 찾을 수 없습니다."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    reason = unavailable_reason()
    if reason:
        ci_requires(reason)
    data, docs = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("docs")
    (docs / "parental-leave.txt").write_text(LEAVE)
    (docs / "contractor-onboarding.txt").write_text(ONBOARDING)
    with llama_server(n_ctx=2048, extra_args=("--interrupt_requests", "False")) as model:
        env = sillok_env(
            data,
            SILLOK_LLM__BASE_URL=model.base_url,
            SILLOK_LLM__MODEL=model.model,
            SILLOK_LLM__MAX_TOKENS="96",
            SILLOK_LLM__MAX_CONCURRENT="1",  # one generation at a time: the second is refused
            SILLOK_LLM__QUEUE_TIMEOUT_S="0.2",
        )
        run(["users", "add", "jiwoo"], env)
        key = run(["users", "token", "jiwoo"], env).strip().splitlines()[-1]
        run(["ingest", str(docs), "--public", "--wait"], env)
        port = free_port()
        proc = subprocess.Popen(
            [SILLOK, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
        )
        base = f"http://127.0.0.1:{port}"
        wait_serving(base, proc, lambda: proc.stderr.read() if proc.stderr else "", 120)
        try:
            yield {"base": base, "key": key}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def headers(server: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {server['key']}"}


def chat(server: dict[str, str], message: str, conversation_id: str | None = None) -> dict[str, object]:
    body = {"message": message, "conversation_id": conversation_id}
    reply = httpx.post(f"{server['base']}/api/v1/chat", json=body, headers=headers(server), timeout=180)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_a_follow_up_through_the_model_is_answered_from_the_conversation(server: dict[str, str]) -> None:
    first = chat(server, "How many days of parental leave do employees get?")
    assert first["mode"] in ("llm", "extractive") and "parental-leave" in cited_titles(first)
    follow_up = chat(server, "And for contractors?", str(first["conversation_id"]))
    assert cited_titles(follow_up)[:1] == ["parental-leave"], follow_up
    assert "30 days" in str(follow_up["answer"]) and not follow_up["refused"]


def test_the_openai_sdk_conversation_and_an_unknown_model(server: dict[str, str]) -> None:
    client = openai.OpenAI(base_url=f"{server['base']}/v1", api_key=server["key"], max_retries=0)
    messages: list[dict[str, str]] = [
        {"role": "user", "content": "How many days of parental leave do employees get?"},
        {"role": "assistant", "content": "Employees receive 90 days of paid parental leave [1]."},
        {"role": "user", "content": "And for contractors?"},
    ]
    completion = client.chat.completions.create(model="sillok", messages=messages)  # type: ignore[arg-type]
    sillok = (completion.model_extra or {})["sillok"]
    assert sillok["citations"][0]["title"] == "parental-leave"
    assert "30 days" in (completion.choices[0].message.content or "")
    with pytest.raises(openai.NotFoundError) as refused:
        client.chat.completions.create(model="gpt-4", messages=messages)  # type: ignore[arg-type]
    assert refused.value.code == "model_not_found"


def test_a_korean_question_nothing_answers_gets_a_korean_refusal(server: dict[str, str]) -> None:
    answer = chat(server, "화성 탐사선의 발사 예산은 얼마인가요?")
    assert answer["refused"] is True and answer["language"] == "ko" and answer["answer"] == REFUSAL_KO


def test_questions_beyond_the_models_slots_get_429_with_retry_after(server: dict[str, str]) -> None:
    body = {"message": "How many days of parental leave do employees get?"}
    url = f"{server['base']}/api/v1/chat"
    with httpx.Client(timeout=180) as client, ThreadPoolExecutor(4) as pool:
        # one slot, a 0.2 s wait: reading the prompt alone takes the model longer than that
        replies = list(pool.map(lambda _: client.post(url, json=body, headers=headers(server)), range(4)))
    served = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code == 429]
    assert served and refused and len(served) + len(refused) == 4, [r.text for r in replies]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
    assert chat(server, body["message"])["citations"]  # the slot is free again
