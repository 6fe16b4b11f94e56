"""Response bodies of the public REST API, and the error answers each route documents.

The models describe the JSON the routes already return, key for key; they allow extra keys
(`additionalProperties`), so a later field reaches clients unchanged and clients should ignore
keys they do not know. Every error is `{"error": {"code", "message"}}` (`ErrorBody`);
`errors(...)` builds a route's `responses=` from the statuses it can answer with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    """A response body: the declared keys, and any newer ones passed through as they are."""

    model_config = ConfigDict(extra="allow")


# -- errors -------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable `code` and a sentence for people."""

    code: str = Field(description="stable error code, e.g. `not_found`, `insufficient_scope`")
    message: str


class ErrorBody(BaseModel):
    """The one shape of every 4xx/5xx answer."""

    error: ErrorDetail


class NotReady(ErrorBody):
    """`GET /readyz` when a dependency does not answer: the error and every check's state."""

    checks: dict[str, str]


_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Invalid input", "invalid_input", "body.query: String should have at least 1 character"),
    401: ("No valid credential", "unauthenticated", "missing bearer token"),
    403: ("Not allowed (role, scope of the key, or CSRF token)", "forbidden", "this needs the admin role"),
    404: ("Not found, or not readable by the caller (answered alike)", "not_found", "document not found"),
    409: ("Conflicts with the current state", "conflict", "only a failed document can be retried"),
    413: ("Body too large", "payload_too_large", "the body is larger than 1000000 bytes"),
    415: ("Unsupported media type", "unsupported_media_type", "send the body as application/json"),
    422: ("The document cannot be processed", "document_failed", "the file could not be parsed"),
    429: ("Too many requests, or the answering capacity is full", "overloaded", "retry later"),
    500: (
        "Unexpected error (logged, never detailed)",
        "internal_error",
        "an unexpected error occurred",
    ),
    503: ("A dependency does not answer", "dependency_unavailable", "the identity provider did not answer"),
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_example(status: int) -> dict[str, Any]:
    """The example body of `status` (for tests and docs)."""
    _, code, message = _ERRORS[status]
    return {"error": {"code": code, "message": message}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer with `statuses`; any other error status (405,
    408, ...) is documented as `default`, with the same body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = _ERRORS[status][0]
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": error_example(status)}},
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        documented[status] = entry
    documented["default"] = {"model": ErrorBody, "description": "Any other error, in the same shape"}
    return documented


def referenced(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """`responses` with the error body named by reference instead of `model`: for a route whose
    own response class is not JSON (FastAPI would give a `model` that route's media type)."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    out: dict[int | str, dict[str, Any]] = {}
    for status, entry in responses.items():
        entry = {k: v for k, v in entry.items() if k != "model"}
        json_content = dict(entry.get("content", {}).get("application/json", {}))
        entry["content"] = {"application/json": {**json_content, "schema": ref}}
        out[status] = entry
    return out


PUBLIC = errors(500)  # health and metrics: no credential, no input
AUTHENTICATED = errors(401, 403, 429, 500, 503)  # any route that takes a credential
WITH_INPUT = errors(400, 401, 403, 429, 500, 503)  # ... and parameters or a JSON body
WITH_BODY = errors(400, 401, 403, 413, 429, 500, 503)  # ... with a JSON body
FOUND = errors(400, 401, 403, 404, 429, 500, 503)  # ... naming a resource in its path
DELETE_USER = errors(400, 401, 403, 404, 409, 429, 500, 503)  # 409: the built-in admin
FOUND_WITH_BODY = errors(400, 401, 403, 404, 413, 429, 500, 503)
UPLOAD = errors(400, 401, 403, 409, 413, 429, 500, 503)  # 409: an Idempotency-Key reused
RETRY = errors(400, 401, 403, 404, 409, 429, 500, 503)
SIGN_IN = errors(400, 401, 413, 429, 500, 503)
CREATE_USER = errors(400, 401, 403, 409, 413, 429, 500, 503)
CHAT_ERRORS = errors(400, 401, 403, 404, 413, 429, 500, 503)  # 404: an unknown conversation


# -- health -------------------------------------------------------------------------------------


class Health(ApiModel):
    """`GET /healthz`."""

    status: Literal["ok"]


class Ready(ApiModel):
    """`GET /readyz` when every dependency answers."""

    status: Literal["ready"]
    checks: dict[str, str] = Field(examples=[{"database": "ok", "vector_index": "ok", "broker": "ok"}])


# -- search and chat ----------------------------------------------------------------------------


class SearchHit(ApiModel):
    """One ranked passage the caller may read."""

    document_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    page: int | None
    section: str | None


class SearchResults(ApiModel):
    """`POST /api/v1/search`: the contract's `sillok search --json` shape."""

    results: list[SearchHit]


class Citation(ApiModel):
    """A numbered source of an answer; `span` is the `[start, end)` range of its text that
    supports the answer; `suspicious` marks a passage that gives instructions to a model."""

    n: int
    document_id: str
    chunk_id: str
    title: str
    page: int | None
    snippet: str
    version: str | None
    span: list[int] | None
    suspicious: bool


class Sentence(ApiModel):
    """One checked sentence of an answer: the sources it cites and how well they support it."""

    text: str
    citations: list[int]
    support: float
    supported: bool


class Answer(ApiModel):
    """A checked answer (the contract's `sillok ask --json` shape), or an honest refusal."""

    answer: str
    grounded: bool
    refused: bool
    mode: str = Field(description="`llm` or `extractive`")
    language: str = Field(description="the question's language, `ko` or `en`")
    groundedness: float
    sentences: list[Sentence]
    dropped_citations: int
    citations: list[Citation]


class ChatReply(Answer):
    """`POST /api/v1/chat`: the answer, and where it was stored."""

    conversation_id: str
    message_id: int


# -- documents ----------------------------------------------------------------------------------

DocumentState = Literal["queued", "processing", "indexed", "failed", "superseded"]


class AclView(ApiModel):
    """Who may read a document: user names, group names, everyone."""

    users: list[str]
    groups: list[str]
    public: bool


class Progress(ApiModel):
    """How far the newest version's processing is (`chunks_total` unknown until parsed)."""

    chunks_done: int
    chunks_total: int | None


class DocumentView(ApiModel):
    """A document with its status, failure reason and progress."""

    id: str
    title: str
    filename: str
    status: DocumentState
    error: str | None
    error_code: str | None
    acl: AclView
    chunks: int
    version: str | None
    progress: Progress | None
    uploaded_by: str | None
    size_bytes: int | None
    created_at: str | None
    updated_at: str | None


class DocumentPage(ApiModel):
    """`GET /api/v1/documents`: one page, newest first; `next_cursor` is null on the last."""

    documents: list[DocumentView]
    next_cursor: str | None
    next_updated_since: str | None


class Accepted(ApiModel):
    """An upload or a retry, registered and queued."""

    id: str
    status: DocumentState
    version: str


class AclChanged(ApiModel):
    """`PUT /api/v1/documents/{id}/acl`: the ACL now in force."""

    id: str
    acl: AclView


class Match(ApiModel):
    """One of the caller's tokens that matched an ACL entry."""

    token: str
    entry: str
    reason: str


class ChunkRef(ApiModel):
    """A passage of the document's current version."""

    id: str
    index: int


class Why(ApiModel):
    """`GET /api/v1/documents/{id}/why`: why the caller may read it."""

    document_id: str
    title: str
    version: str | None
    acl: AclView
    your_tokens: list[str]
    matches: list[Match]
    chunk: ChunkRef | None = None


# -- users, groups, keys ------------------------------------------------------------------------


class Me(ApiModel):
    """`GET /api/v1/me`: who the caller is, and the API key it came with (null otherwise)."""

    username: str
    groups: list[str]
    admin: bool
    key_prefix: str | None
    scopes: list[str] | None = Field(description="the key's scopes; null: every right of the user")


class UserRecord(ApiModel):
    """A user's public record; `service` marks an account that acts only by API key."""

    username: str
    email: str | None
    groups: list[str]
    admin: bool
    service: bool
    created_at: str | None


class UserList(ApiModel):
    """`GET /api/v1/users`."""

    users: list[UserRecord]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class KeyRecord(ApiModel):
    """An API key, without its secret; `scopes` null means every right of its owner."""

    prefix: str
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    scopes: list[str] | None
    expires_at: str | None


class KeyList(ApiModel):
    """`GET /api/v1/users/{username}/api-keys`."""

    keys: list[KeyRecord]


class IssuedKey(ApiModel):
    """A new API key, shown this once; `scopes` null means every right of its owner."""

    key: str
    prefix: str
    scopes: list[str] | None
    expires_at: str | None


class GroupRecord(ApiModel):
    """A group and its members' names."""

    name: str
    members: list[str]


class GroupList(ApiModel):
    """`GET /api/v1/groups`."""

    groups: list[GroupRecord]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


# -- conversations and audit --------------------------------------------------------------------


class ConversationSummary(ApiModel):
    """A conversation in the caller's list."""

    id: str
    title: str
    updated_at: str | None


class ConversationList(ApiModel):
    """`GET /api/v1/conversations`, most recent first."""

    conversations: list[ConversationSummary]
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")


class StoredCitation(ApiModel):
    """A citation as it was stored with an answer (older answers lack the later fields)."""

    n: int
    document_id: str
    chunk_id: str
    title: str
    page: int | None
    snippet: str
    version: str | None = None
    span: list[int] | None = None
    suspicious: bool | None = None


class StoredMessage(ApiModel):
    """A question and its answer as the owner may see them now (`withheld` when a cited
    document is no longer readable); the answer's checks are there when they were kept."""

    id: int
    question: str
    answer: str
    grounded: bool
    mode: str
    citations: list[StoredCitation]
    refused: bool | None = None
    language: str | None = None
    groundedness: float | None = None
    sentences: list[Sentence] | None = None
    dropped_citations: int | None = None
    withheld: bool
    channel: str
    created_at: str | None


class ConversationView(ApiModel):
    """`GET /api/v1/conversations/{id}`."""

    id: str
    title: str
    messages: list[StoredMessage]


class SeenDocument(ApiModel):
    """A document a user was shown in the period, with its versions and passage count."""

    document_id: str
    versions: list[str]
    passages: int
    first_seen: str | None
    last_seen: str | None


class Seen(ApiModel):
    """`GET /api/v1/audit/seen`."""

    user: str
    documents: list[SeenDocument]


# -- sign-in ------------------------------------------------------------------------------------


class AuthConfig(ApiModel):
    """`GET /api/v1/auth/config`: how the web UI may sign in."""

    local: bool
    oidc: bool
    oidc_login_url: str | None


class SignedIn(ApiModel):
    """`POST /api/v1/auth/login`: who signed in, and the token for the `X-CSRF-Token` header."""

    username: str
    groups: list[str]
    admin: bool
    csrf: str


# -- OpenAI-compatible --------------------------------------------------------------------------


class ModelCard(ApiModel):
    """One model served."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(ApiModel):
    """`GET /v1/models`."""

    object: Literal["list"]
    data: list[ModelCard]


class CompletionMessage(ApiModel):
    """The assistant's reply."""

    role: Literal["assistant"]
    content: str


class Choice(ApiModel):
    """The one choice of a completion."""

    index: int
    message: CompletionMessage
    finish_reason: str


class Usage(ApiModel):
    """Token counts (not measured: zeros)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class SillokField(Answer):
    """The citations and checks of the answer, and where it was stored."""

    conversation_id: str
    message_id: int


class Completion(ApiModel):
    """`POST /v1/chat/completions` without `stream`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sillok: SillokField


class OpenAIErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(BaseModel):
    """OpenAI's error shape (an unknown model); `code` and `message` as in every Sillok error."""

    error: OpenAIErrorDetail


# -- non-JSON bodies ----------------------------------------------------------------------------


_SSE_EVENT = {  # one event, as OpenAPI 3.2's `itemSchema` for text/event-stream describes it
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "the event's type (`message` when unnamed)"},
        "data": {"type": "string", "description": "the event's data, JSON unless it is `[DONE]`"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


def sse(description: str, example: str) -> dict[str, Any]:
    """`text/event-stream` as the alternative 200 content of a route that streams; its schema is
    that of one event."""
    return {
        "description": "The answer; with `stream: true`, Server-Sent Events",
        "content": {
            "text/event-stream": {
                "schema": {**_SSE_EVENT, "description": description},
                "example": example,
            }
        },
    }


def raw(media_type: str, description: str, fmt: str | None = None) -> dict[str, Any]:
    """A 200 body that is not JSON (a file, metrics, JSON lines)."""
    schema: dict[str, Any] = {"type": "string", "description": description}
    if fmt:
        schema["format"] = fmt
    return {"description": description, "content": {media_type: {"schema": schema}}}


CHAT_EVENTS = sse(
    '`delta` events (`{"text"}`), then one `answer` event carrying the `ChatReply` object; '
    "an error after the stream started is one `error` event with the error body",
    'event: delta\ndata: {"text": "Leave is "}\n\nevent: answer\ndata: {"answer": "Leave is 15 days [1].", '
    '"grounded": true, "citations": [...], "conversation_id": "...", "message_id": 1}\n\n',
)
COMPLETION_EVENTS = sse(
    "`chat.completion.chunk` objects as `data:` lines, the last with `finish_reason: stop` and the "
    "`sillok` field, then `data: [DONE]`",
    'data: {"id": "chatcmpl-...", "object": "chat.completion.chunk", "choices": [{"index": 0, '
    '"delta": {"role": "assistant", "content": "Leave"}, "finish_reason": null}]}\n\ndata: [DONE]\n\n',
)
CHAT = {**CHAT_ERRORS, 200: CHAT_EVENTS}
COMPLETIONS = {
    **WITH_BODY,
    200: COMPLETION_EVENTS,
    404: {"model": OpenAIError, "description": "The model named is not served (OpenAI's error shape)"},
}
READINESS = {
    **PUBLIC,
    503: {
        "model": NotReady,
        "description": "A dependency does not answer; `checks` says which",
        "content": {
            "application/json": {
                "example": {
                    "error": {"code": "dependency_unavailable", "message": "not ready: database"},
                    "checks": {"database": "unavailable: OperationalError"},
                }
            }
        },
    },
}
METRICS = {**referenced(PUBLIC), 200: raw("text/plain", "Prometheus text exposition format")}
CONTENT = {**FOUND, 200: raw("application/octet-stream", "The original file, as an attachment", "binary")}
AUDIT_LINES = {
    **WITH_INPUT,
    200: {
        **raw("application/x-ndjson", "Matching audit events, one JSON object per line"),
        "headers": {
            "Link": {
                "description": 'with `limit`, when more events match: `<...?cursor=...>; rel="next"`',
                "schema": {"type": "string"},
            }
        },
    },
}
