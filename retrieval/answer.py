"""The answer service: the one function that turns a question into a grounded, cited answer.

It refuses to run without a principal, so every channel (REST, chat UI, bots, CLI, the
OpenAI-compatible endpoint) gets the same ACL-filtered sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from core.acl import Principal
from core.errors import Unauthenticated
from core.ports import LLMClient
from core.types import Answer, Citation, ScoredChunk
from retrieval import extractive
from retrieval.markers import cited_numbers
from retrieval.prompt import REFUSAL, build_prompt
from retrieval.retriever import Retriever

SNIPPET_CHARS = 320


def citations_for(numbers: Sequence[int], sources: Sequence[ScoredChunk]) -> tuple[Citation, ...]:
    """Citations for the source numbers actually cited, in order, without duplicates."""
    seen: list[int] = []
    for n in numbers:
        if 1 <= n <= len(sources) and n not in seen:
            seen.append(n)
    out = []
    for n in sorted(seen):
        chunk = sources[n - 1].chunk
        snippet = chunk.text if len(chunk.text) <= SNIPPET_CHARS else chunk.text[:SNIPPET_CHARS] + "…"
        out.append(Citation(n, chunk.document_id, chunk.id, chunk.title, chunk.page, snippet, chunk.version))
    return tuple(out)


class AnswerService:
    """Retrieves what the principal may read and answers from it, with the LLM or extractively."""

    def __init__(
        self,
        retriever: Retriever,
        llm: LLMClient | None,
        count_tokens: Callable[[str], int],
        context_tokens: int,
        sources: int,
    ) -> None:
        self._retriever = retriever
        self._llm = llm
        self._count_tokens = count_tokens
        self._context_tokens = context_tokens
        self._sources = sources

    def _hits(self, principal: Principal, question: str) -> list[ScoredChunk]:
        if not isinstance(principal, Principal):
            raise Unauthenticated("an answer requires an authenticated principal")
        return self._retriever.search(principal, question, self._sources)

    def answer(self, principal: Principal, question: str) -> Answer:
        """A complete answer for `principal`."""
        final: Answer | None = None
        for part in self.stream(principal, question):
            if isinstance(part, Answer):
                final = part
        assert final is not None
        return final

    def stream(self, principal: Principal, question: str) -> Iterator[str | Answer]:
        """Text pieces as they are generated, then the final `Answer` (always last)."""
        hits = self._hits(principal, question)
        if self._llm is None:
            answer = self._extractive(question, hits)
            yield answer.text
            yield answer
            return
        if not hits:
            yield REFUSAL
            yield Answer(REFUSAL, grounded=False, mode="llm")
            return
        prompt = build_prompt(question, hits, self._count_tokens, self._context_tokens)
        pieces: list[str] = []
        for piece in self._llm.stream(prompt.messages):
            pieces.append(piece)
            yield piece
        text = "".join(pieces).strip()
        cited = citations_for(cited_numbers(text), prompt.sources)
        grounded = bool(cited) and REFUSAL not in text
        yield Answer(text, grounded=grounded, citations=cited if grounded else (), mode="llm")

    @staticmethod
    def _extractive(question: str, hits: Sequence[ScoredChunk]) -> Answer:
        extracts = extractive.best_sentences(question, hits)
        if not extracts:
            return Answer(REFUSAL, grounded=False, mode="extractive")
        cited = citations_for([e.n for e in extracts], hits)
        return Answer(extractive.render(extracts), grounded=True, citations=cited, mode="extractive")
