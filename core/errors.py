"""One exception tree for the whole product, each class with a stable code and HTTP status.

Entrances translate these into their own shape (JSON error bodies, CLI messages) in one place;
nothing below the entrances knows about HTTP.
"""

from __future__ import annotations


class SillokError(Exception):
    """Base of every error Sillok raises on purpose; `code` is stable and public."""

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(SillokError):
    """The request or command line is malformed or refers to impossible values."""

    code = "invalid_input"
    status = 400


class Unauthenticated(SillokError):
    """No valid credential was presented."""

    code = "unauthenticated"
    status = 401


class Forbidden(SillokError):
    """The principal is known but may not perform this action (never used for reads of content)."""

    code = "forbidden"
    status = 403


class CsrfFailed(SillokError):
    """A state-changing browser request without the session's CSRF token."""

    code = "csrf_failed"
    status = 403


class NotFound(SillokError):
    """The resource does not exist *or the caller may not read it*; the two are never told apart."""

    code = "not_found"
    status = 404


class Conflict(SillokError):
    """The request conflicts with the current state (e.g. a name already taken)."""

    code = "conflict"
    status = 409


class PayloadTooLarge(SillokError):
    """The request body or uploaded file exceeds the configured limit."""

    code = "payload_too_large"
    status = 413


class DependencyUnavailable(SillokError):
    """A configured service (database, vector index, LLM, broker) did not answer; retrying may help."""

    code = "dependency_unavailable"
    status = 503


class Overloaded(SillokError):
    """Every generation slot is busy; the caller should come back after `retry_after` seconds."""

    code = "overloaded"
    status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContextTooLong(SillokError):
    """The question and its sources do not fit the served model's context window."""

    code = "context_too_long"
    status = 400


class ConfigurationError(SillokError):
    """The settings are unsafe or inconsistent; raised at start-up, never per request."""

    code = "configuration_error"
    status = 500


class DocumentError(SillokError):
    """A document cannot be indexed; permanent, so it is never retried. The message is for people."""

    code = "document_failed"
    status = 422


class UnsupportedFormat(DocumentError):
    """The file type is not one Sillok can read."""

    code = "unsupported_format"


class EncryptedDocument(DocumentError):
    """The file is encrypted or password-protected."""

    code = "encrypted"


class EmptyDocument(DocumentError):
    """The file contains no text at all."""

    code = "empty_document"


class NoTextLayer(DocumentError):
    """The file is an image or a scan whose text could only be read by OCR, which is unavailable."""

    code = "no_text_layer"


class MalformedDocument(DocumentError):
    """The file is damaged or not what its name says."""

    code = "malformed_document"


class DocumentTooLarge(DocumentError):
    """The file exceeds the configured size limit."""

    code = "too_large"
    status = 413


class FormatMismatch(MalformedDocument):
    """The file's content is of a different type than its name says (e.g. a zip named .pdf)."""

    code = "format_mismatch"


class UnsafeDocument(DocumentError):
    """The file is built to attack its reader (path traversal, links, XML entity declarations)."""

    code = "unsafe_content"


class TooComplex(DocumentError):
    """Reading the file would exhaust memory or nesting limits (zip bombs, memory floods)."""

    code = "too_complex"


class ParseTimeout(DocumentError):
    """Reading the file took longer than the configured time limit."""

    code = "parse_timeout"


class ParserCrashed(DocumentError):
    """The isolated parser process stopped abruptly on the file."""

    code = "parser_crashed"
