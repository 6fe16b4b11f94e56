"""A Python client generated from a live `sillok serve`'s `/openapi.json` with
openapi-python-client drives what an internal tool does, as a service account with a scoped key:
upload → status → search → chat (also streamed) → ACL change → delete. A search-only key of the
same account is refused by upload, chat and admin routes with 403 `insufficient_scope`."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.helpers import ci_requires, sillok_env, sillok_serving

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "bootstrap-" + "c4" * 16
GENERATOR = REPO / ".venv" / "codegen" / "bin" / "openapi-python-client"
POLICY = b"Remote work. Employees may work remotely up to three days per week with their manager's consent."
TOOL_SCOPES = ["search", "chat", "documents:read", "documents:write"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data = tmp_path_factory.mktemp("data")
    env = sillok_env(data, SILLOK_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN, SILLOK_LOG_LEVEL="WARNING")
    with sillok_serving(env, data / "serve.log") as base:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        body = {"username": "wiki-bot", "groups": ["hr"], "service": True}
        httpx.post(f"{base}/api/v1/users", json=body, headers=admin).raise_for_status()
        keys = f"{base}/api/v1/users/wiki-bot/api-keys"
        tool = httpx.post(keys, json={"scopes": TOOL_SCOPES}, headers=admin).raise_for_status()
        search_only = httpx.post(keys, json={"scopes": ["search"]}, headers=admin).raise_for_status()
        yield {"base": base, "tool": tool.json()["key"], "search_only": search_only.json()["key"]}


@pytest.fixture(scope="module")
def sdk(site: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    if not GENERATOR.exists():
        ci_requires("openapi-python-client is not installed (scripts/install puts it in .venv/codegen)")
    root = tmp_path_factory.mktemp("generated")
    schema = root / "openapi.json"
    schema.write_bytes(httpx.get(f"{site['base']}/openapi.json").raise_for_status().content)
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(schema),
            "--output-path",
            str(root / "sillok_sdk"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("sillok_sdk")
    finally:
        sys.path.remove(str(root))


def module(name: str) -> Any:
    return importlib.import_module(f"sillok_sdk.{name}")


def test_an_internal_tool_drives_a_document_through_the_generated_client(
    site: dict[str, str], sdk: ModuleType
) -> None:
    models, types = module("models"), module("types")
    client = sdk.AuthenticatedClient(
        base_url=site["base"], token=site["tool"], raise_on_unexpected_status=True
    )
    upload = module("api.documents.upload_api_v1_documents_post")
    body = models.UploadApiV1DocumentsPostBody(
        file=types.File(payload=io.BytesIO(POLICY), file_name="remote-work.txt"),
        acl=json.dumps({"groups": ["hr"]}),
        title="Remote work policy",
    )
    accepted = upload.sync(client=client, body=body)
    assert isinstance(accepted, models.Accepted), accepted
    document_id = accepted.id

    get_document = module("api.documents.get_document_api_v1_documents_document_id_get")
    deadline = time.monotonic() + 120
    while (view := get_document.sync(document_id, client=client)).status.value != "indexed":
        assert view.status.value in ("queued", "processing") and time.monotonic() < deadline, view
        time.sleep(0.5)
    assert view.title == "Remote work policy" and view.chunks >= 1

    searching = module("api.search.search_api_v1_search_post")
    found = searching.sync(client=client, body=models.SearchRequest(query="how many days remote work"))
    assert isinstance(found, models.SearchResults) and found.results[0].document_id == document_id

    asking = module("api.chat.chat_api_v1_chat_post")
    question = "How many days per week may employees work remotely?"
    reply = asking.sync(client=client, body=models.ChatRequest(message=question))
    assert isinstance(reply, models.ChatReply) and "three days" in reply.answer
    assert reply.citations[0].document_id == document_id and reply.grounded

    # streamed: the generated client's own HTTP client reads the Server-Sent Events
    streamed = {"message": question, "stream": True}
    with client.get_httpx_client().stream("POST", "/api/v1/chat", json=streamed) as sse:
        assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in sse.iter_lines() if line.startswith("event: ")]
    assert events[0] == "delta" and events[-1] == "answer"

    acl = module("api.documents.update_acl_api_v1_documents_document_id_acl_put")
    private = models.AclBody(users=["wiki-bot"], groups=[], public=False)
    changed = acl.sync(document_id, client=client, body=private)
    assert not isinstance(changed, models.ErrorBody), changed
    assert get_document.sync(document_id, client=client).acl.groups == []

    delete = module("api.documents.delete_document_api_v1_documents_document_id_delete")
    assert delete.sync_detailed(document_id, client=client).status_code == 204
    gone = get_document.sync_detailed(document_id, client=client)
    assert gone.status_code == 404 and isinstance(gone.parsed, models.ErrorBody)
    assert searching.sync(client=client, body=models.SearchRequest(query="remote work")).results == []


def test_a_search_only_key_is_refused_everything_else(site: dict[str, str], sdk: ModuleType) -> None:
    models, types = module("models"), module("types")
    client = sdk.AuthenticatedClient(base_url=site["base"], token=site["search_only"])
    upload = module("api.documents.upload_api_v1_documents_post")
    asking = module("api.chat.chat_api_v1_chat_post")
    users = module("api.admin.list_users_api_v1_users_get")
    body = models.UploadApiV1DocumentsPostBody(file=types.File(payload=io.BytesIO(POLICY), file_name="x.txt"))
    for refused in (
        upload.sync_detailed(client=client, body=body),
        asking.sync_detailed(client=client, body=models.ChatRequest(message="Remote work?")),
        users.sync_detailed(client=client),
    ):
        assert refused.status_code == 403 and refused.parsed.error.code == "insufficient_scope"
    searching = module("api.search.search_api_v1_search_post")
    assert (
        searching.sync_detailed(client=client, body=models.SearchRequest(query="remote")).status_code == 200
    )
