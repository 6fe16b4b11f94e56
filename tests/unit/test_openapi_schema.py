"""The OpenAPI schema is valid, types every success body, gives every error the error shape,
describes the upload's multipart body, and the offline docs page is served with its files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from core.settings import Settings
from serving.api.app import create_app
from serving.api.bootstrap import ApiServices
from serving.api.docs import ASSET_FILES
from serving.api.responses import ConversationView, error_example
from serving.api.security import CONTENT_SECURITY_POLICY

STREAMING = {("post", "/api/v1/chat"), ("post", "/v1/chat/completions")}
PUBLIC_OPERATIONS = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/auth/config"),
    ("post", "/api/v1/auth/login"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("openapi")
    settings = Settings(data_dir=root / "data", bootstrap_admin_token="o" * 32, log_level="WARNING")
    container = ApiServices(settings)
    yield create_app(container)
    container.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    return reply.json()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def _is_error_schema(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    body = _resolve(spec, schema)
    if "error" not in body.get("required", []):
        return False
    detail = _resolve(spec, body["properties"]["error"])
    return {"code", "message"} <= set(detail.get("required", []))


def _typed(spec: dict[str, Any], media: dict[str, Any], media_type: str) -> bool:
    """A JSON body names its keys (a bare `object` is untyped); any other body has a type."""
    schema = _resolve(spec, media.get("schema") or {})
    if media_type == "application/json":
        return bool(schema.get("properties"))
    return bool(schema.get("type"))


def test_the_schema_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    assert len(list(_operations(spec))) >= 30  # every public route is in it


def test_every_success_body_is_typed(spec: dict[str, Any]) -> None:
    untyped = []
    for method, path, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content") or {}
            if not content or not all(_typed(spec, media, kind) for kind, media in content.items()):
                untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []


def test_every_documented_error_has_the_error_shape(spec: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in _operations(spec):
        assert "default" in operation["responses"], f"{method} {path}"
        for status, response in operation["responses"].items():
            if status.startswith(("1", "2", "3")):
                continue
            content = response.get("content") or {}
            schema = content.get("application/json", {}).get("schema")
            if set(content) != {"application/json"} or not schema or not _is_error_schema(spec, schema):
                wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []
    validation_errors = {"HTTPValidationError", "ValidationError"}  # FastAPI's 422 is never sent
    assert not validation_errors & set(spec["components"]["schemas"])


def test_authenticated_routes_document_401_403_429_and_carry_the_bearer_scheme(
    spec: dict[str, Any],
) -> None:
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, operation in _operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            assert "security" not in operation, f"{method} {path}"
            continue
        assert operation.get("security") == [{"bearer": []}], f"{method} {path}"
        responses = operation["responses"]
        assert {"401", "403", "429", "500"} <= set(responses), f"{method} {path}"
        assert "Retry-After" in responses["429"]["headers"]
        assert responses["401"]["content"]["application/json"]["example"] == error_example(401)


def test_routes_naming_a_resource_document_404(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in _operations(spec)
        if "{" in path and "404" not in operation["responses"]
    ]
    assert missing == []


def test_the_upload_documents_its_multipart_body(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/documents"]["post"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    assert body["required"] is True
    assert set(form["properties"]) == {"file", "acl", "title", "source_url"}
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert form["required"] == ["file"]
    accepted = _resolve(
        spec,
        spec["paths"]["/api/v1/documents"]["post"]["responses"]["202"]["content"]["application/json"][
            "schema"
        ],
    )
    assert {"id", "status", "version"} <= set(accepted["required"])


def test_streaming_routes_offer_server_sent_events(spec: dict[str, Any]) -> None:
    for method, path in STREAMING:
        content = spec["paths"][path][method]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/event-stream"}
        event = content["text/event-stream"]["schema"]  # one event: its type and its data
        assert event["type"] == "object" and {"event", "data"} <= set(event["properties"])
        assert (
            "event" in content["text/event-stream"]["example"]
            or "data:" in content["text/event-stream"]["example"]
        )


def test_response_models_keep_the_bodies_the_routes_build(client: TestClient) -> None:
    admin = {"Authorization": "Bearer " + "o" * 32}
    assert client.get("/healthz").json() == {"status": "ok"}
    me = client.get("/api/v1/me", headers=admin).json()
    assert me == {"username": "admin", "groups": [], "admin": True, "key_prefix": None, "scopes": None}
    created = client.post("/api/v1/users", json={"username": "eun", "groups": ["hr"]}, headers=admin)
    assert created.status_code == 201
    assert set(created.json()) == {"username", "email", "groups", "admin", "service", "created_at"}
    unknown = client.get("/api/v1/documents/nope/why", headers=admin)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": unknown.json()["error"]["message"]}}


def test_the_docs_page_and_its_files_are_served_here(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    assert "http" not in page.text.replace('<html lang="en">', "")  # nothing from elsewhere
    assert client.get("/docs/init.js").headers["content-type"].startswith("text/javascript")
    for name, media_type in ASSET_FILES.items():
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(media_type)
        assert len(asset.content) > 1000
    refused = client.get("/docs/assets/..%2Fcore.py")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"


def test_an_older_stored_answer_is_shown_as_it_was_stored() -> None:
    """Messages kept before the checks and the later citation fields existed pass unchanged."""
    old_citation = {"n": 1, "document_id": "d", "chunk_id": "d:0", "title": "T", "page": None, "snippet": "s"}
    message = {
        "id": 7,
        "question": "q",
        "answer": "a [1]",
        "grounded": True,
        "mode": "llm",
        "citations": [old_citation],
        "withheld": False,
        "channel": "rest",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    body = {"id": "c", "title": "q", "messages": [message]}
    shown = ConversationView.model_validate(body).model_dump(mode="json", exclude_unset=True)
    assert shown == body


def test_a_method_no_route_serves_is_405_naming_every_method_the_path_has(
    client: TestClient, spec: dict[str, Any]
) -> None:
    admin = {"Authorization": "Bearer " + "o" * 32}
    reply = client.request("OPTIONS", "/api/v1/users/someone", headers=admin)
    assert reply.status_code == 405 and reply.json()["error"]["code"] == "method_not_allowed"
    documented = {m.upper() for m in spec["paths"]["/api/v1/users/{username}"]}
    assert set(reply.headers["allow"].split(", ")) == documented == {"GET", "DELETE"}
