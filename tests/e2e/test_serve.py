"""`sillok serve` on the embedded default answers questions with citations over HTTP, with API
keys, JSON errors and forbidden documents answered exactly like missing ones."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.helpers import SILLOK, free_port, run, sillok_env, wait_serving

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "bootstrap-" + "x7" * 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data = tmp_path_factory.mktemp("data")
    private = tmp_path_factory.mktemp("private")
    (private / "salaries.txt").write_text("Salary bands 2027: engineers earn between 70 and 95 million KRW.")
    env = sillok_env(data, SILLOK_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN)
    run(["users", "add", "hana", "--group", "hr"], env)
    run(["users", "add", "minsu"], env)
    keys = {u: run(["users", "token", u], env).strip().splitlines()[-1] for u in ("hana", "minsu")}
    run(["ingest", str(REPO / "samples"), "--public", "--wait"], env)
    ingested = run(["ingest", str(private), "--group", "hr", "--wait"], env)
    private_id = ingested.split("\t")[2]
    port = free_port()
    proc = subprocess.Popen(
        [SILLOK, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    wait_serving(base, proc, lambda: proc.stderr.read() if proc.stderr else "", 120)
    yield {"base": base, "hana": keys["hana"], "minsu": keys["minsu"], "private_id": private_id}
    proc.terminate()
    proc.wait(timeout=30)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_health_and_readiness(server: dict[str, str]) -> None:
    assert httpx.get(f"{server['base']}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server['base']}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "vector_index": "ok"}
    assert "sillok_questions_total" in httpx.get(f"{server['base']}/metrics").text


def test_chat_answers_with_citations(server: dict[str, str]) -> None:
    body = {"message": "How many days per week can employees work remotely?"}
    reply = httpx.post(f"{server['base']}/api/v1/chat", json=body, headers=auth(server["minsu"]), timeout=120)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["grounded"] and "three days" in answer["answer"]
    assert answer["citations"] and answer["citations"][0]["title"] == "employee-handbook"
    assert answer["conversation_id"]


def test_chat_streams_server_sent_events(server: dict[str, str]) -> None:
    body = {"message": "비밀번호는 몇 자 이상이어야 하나요?", "stream": True}
    with httpx.stream(
        "POST", f"{server['base']}/api/v1/chat", json=body, headers=auth(server["minsu"]), timeout=120
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = list(r.iter_lines())
    events = [line for line in lines if line.startswith("event: ")]
    assert events[0] == "event: delta" and events[-1] == "event: answer"
    answer = json.loads(lines[lines.index("event: answer") + 1].removeprefix("data: "))
    assert answer["grounded"] and "14" in answer["answer"]


def test_missing_and_bad_credentials_are_json_401(server: dict[str, str]) -> None:
    for headers in ({}, auth("slk_not-a-real-key"), {"Authorization": "Basic abc"}):
        reply = httpx.post(f"{server['base']}/api/v1/search", json={"query": "leave"}, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "unauthenticated"


def test_invalid_input_is_a_json_400(server: dict[str, str]) -> None:
    reply = httpx.post(f"{server['base']}/api/v1/search", json={"top_k": 5}, headers=auth(server["minsu"]))
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_input"
    assert "Traceback" not in reply.text


def test_forbidden_document_is_answered_exactly_like_a_missing_one(server: dict[str, str]) -> None:
    base, doc = server["base"], server["private_id"]
    assert httpx.get(f"{base}/api/v1/documents/{doc}", headers=auth(server["hana"])).status_code == 200
    forbidden = httpx.get(f"{base}/api/v1/documents/{doc}", headers=auth(server["minsu"]))
    missing = httpx.get(
        f"{base}/api/v1/documents/00000000-0000-0000-0000-000000000000", headers=auth(server["minsu"])
    )
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json()
    listed = httpx.get(f"{base}/api/v1/documents", headers=auth(server["minsu"])).json()["documents"]
    assert doc not in {d["id"] for d in listed}


def test_private_passages_reach_only_their_group(server: dict[str, str]) -> None:
    body = {"query": "salary bands for engineers", "top_k": 20}
    hana = httpx.post(f"{server['base']}/api/v1/search", json=body, headers=auth(server["hana"])).json()
    minsu = httpx.post(f"{server['base']}/api/v1/search", json=body, headers=auth(server["minsu"])).json()
    assert any("Salary bands" in r["text"] for r in hana["results"])
    assert not any("Salary" in json.dumps(r) for r in minsu["results"])
    chat = httpx.post(
        f"{server['base']}/api/v1/chat",
        json={"message": "What are the salary bands?"},
        headers=auth(server["minsu"]),
        timeout=120,
    ).json()
    assert "million" not in json.dumps(chat)


def test_bootstrap_admin_token_is_accepted(server: dict[str, str]) -> None:
    reply = httpx.post(f"{server['base']}/api/v1/search", json={"query": "leave"}, headers=auth(ADMIN_TOKEN))
    assert reply.status_code == 200


def found(server: dict[str, str], user: str, query: str, marker: str) -> bool:
    body = {"query": query, "top_k": 20}
    results = httpx.post(f"{server['base']}/api/v1/search", json=body, headers=auth(server[user])).json()
    return any(marker in r["text"] for r in results["results"])


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.5)


def test_document_lifecycle_over_rest(server: dict[str, str]) -> None:
    base, hana, minsu = server["base"], auth(server["hana"]), auth(server["minsu"])
    content = b"Offsite 2027: the HR team meets in Gangneung on 14 May to plan the wellness budget."
    files = {"file": ("offsite.txt", content, "text/plain")}
    refused = httpx.post(
        f"{base}/api/v1/documents", headers=hana, files=files, data={"acl": '{"groups":["it"]}'}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    accepted = httpx.post(
        f"{base}/api/v1/documents", headers=hana, files=files, data={"acl": '{"groups":["hr"]}'}
    )
    assert accepted.status_code == 202, accepted.text
    doc = accepted.json()["id"]
    url = f"{base}/api/v1/documents/{doc}"
    wait_for(lambda: httpx.get(url, headers=hana).json()["status"] == "indexed")
    assert httpx.get(url, headers=hana).json()["chunks"] >= 1
    original = httpx.get(f"{url}/content", headers=hana)
    assert original.content == content and original.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in original.headers["content-disposition"]
    missing = httpx.get(f"{base}/api/v1/documents/{'0' * 8}-0000-0000-0000-{'0' * 12}/content", headers=minsu)
    assert httpx.get(f"{url}/content", headers=minsu).json() == missing.json()
    assert not found(server, "minsu", "offsite in Gangneung", "Gangneung")

    public = {"users": [], "groups": ["hr"], "public": True}
    assert httpx.put(f"{url}/acl", headers=minsu, json=public).status_code == 404  # cannot see it: missing
    assert httpx.put(f"{url}/acl", headers=hana, json=public).status_code == 403  # publishing: admins only
    shared = {"users": ["minsu"], "groups": ["hr"], "public": False}
    assert httpx.put(f"{url}/acl", headers=hana, json=shared).status_code == 200
    wait_for(lambda: found(server, "minsu", "offsite in Gangneung", "Gangneung"))
    assert httpx.delete(url, headers=minsu).status_code == 403  # may read it, may not delete it
    assert httpx.put(f"{url}/acl", headers=hana, json={"groups": ["hr"]}).status_code == 200
    assert not found(server, "minsu", "offsite in Gangneung", "Gangneung")  # the very next request

    assert httpx.delete(url, headers=hana).status_code == 204
    assert not found(server, "hana", "offsite in Gangneung", "Gangneung")
    assert httpx.get(url, headers=hana).status_code == 404
    metrics = httpx.get(f"{base}/metrics").text
    assert 'sillok_document_versions{status="indexed"}' in metrics and "sillok_task_seconds_count" in metrics


def test_oversized_upload_is_refused_before_it_is_read(server: dict[str, str]) -> None:
    connection = http.client.HTTPConnection(server["base"].removeprefix("http://"), timeout=30)
    connection.putrequest("POST", "/api/v1/documents")
    connection.putheader("Authorization", f"Bearer {server['hana']}")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(10**10))
    connection.endheaders()
    reply = connection.getresponse()
    assert reply.status == 413
    assert json.loads(reply.read())["error"]["code"] == "payload_too_large"
    connection.close()
