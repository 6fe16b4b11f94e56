"""`LLMClient` for any OpenAI-compatible server (vLLM in production), with timeouts and streaming."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import openai

from core.errors import DependencyUnavailable
from core.settings import LLMSettings


class OpenAICompatibleLLM:
    """Chat completions against `base_url` with the configured model."""

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.base_url or not settings.model:
            raise ValueError("an LLM needs llm.base_url and llm.model")
        key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        self._client = openai.OpenAI(
            base_url=f"{settings.base_url}/v1"
            if not settings.base_url.endswith("/v1")
            else settings.base_url,
            api_key=key,
            timeout=settings.timeout_s,
            max_retries=1,
        )
        self._settings = settings
        self._model = settings.model

    @property
    def model(self) -> str:
        """The served model's name."""
        return self._model

    def _request(self, messages: Sequence[dict[str, str]], stream: bool) -> Any:
        try:
            return self._client.chat.completions.create(
                model=self._model,
                messages=list(messages),  # type: ignore[arg-type]
                max_tokens=self._settings.max_tokens,
                temperature=self._settings.temperature,
                stream=stream,
            )
        except openai.OpenAIError as exc:
            raise DependencyUnavailable(f"the language model did not answer: {type(exc).__name__}") from exc

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        """The full reply."""
        response = self._request(messages, stream=False)
        return str(response.choices[0].message.content or "")

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        """The reply piece by piece as the server generates it."""
        try:
            for event in self._request(messages, stream=True):
                if event.choices and event.choices[0].delta.content:
                    yield str(event.choices[0].delta.content)
        except openai.OpenAIError as exc:
            raise DependencyUnavailable(
                f"the language model stopped answering: {type(exc).__name__}"
            ) from exc
