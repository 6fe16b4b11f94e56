"""The answer service: the one function that turns a question into a checked, cited answer.

It refuses to run without a principal, so every channel (REST, chat UI, bots, CLI, the
OpenAI-compatible endpoint) gets the same ACL-filtered sources. Follow-ups are made standalone
before retrieval; every answer, generated or extracted, is checked sentence by sentence against
the passages it cites, and Sillok says it cannot answer, in the asker's language, when nothing
relevant is found or nothing in the answer is supported.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import replace

from prometheus_client import Counter

from core.acl import Principal
from core.errors import Unauthenticated
from core.lexical import terms
from core.ports import LLMClient
from core.settings import AnswerSettings
from core.types import Answer, Citation, ScoredChunk, SentenceSupport, Turn
from retrieval import extractive
from retrieval.condense import standalone
from retrieval.language import Language, detect, refusals, say
from retrieval.prompt import build_prompt
from retrieval.retriever import Retriever
from retrieval.tokens import estimate_tokens
from retrieval.verify import Verification, Verifier

SNIPPET_CHARS = 320
_MARKER_WITH_SPACE = re.compile(r"(\s*)\[(\d{1,3})\]")
RESERVED_TOKENS = 64  # chat template and role markers the prompt count does not see
DROPPED_CITATIONS = Counter("sillok_dropped_citations_total", "Citation markers naming no source provided")
FALLBACKS = Counter("sillok_extract_fallbacks_total", "Model answers replaced by a checked extract")
UNSUPPORTED = Counter("sillok_unsupported_sentences_total", "Answer sentences their sources do not support")


def citations_for(
    numbers: Sequence[int],
    sources: Sequence[ScoredChunk],
    spans: dict[int, tuple[int, int]] | None = None,
) -> tuple[Citation, ...]:
    """Citations for the source numbers actually cited, in order, without duplicates, each with
    the span of its passage that supports the answer."""
    out = []
    for n in sorted({n for n in numbers if 1 <= n <= len(sources)}):
        chunk = sources[n - 1].chunk
        snippet = chunk.text if len(chunk.text) <= SNIPPET_CHARS else chunk.text[:SNIPPET_CHARS] + "…"
        span = (spans or {}).get(n)
        out.append(
            Citation(
                n,
                chunk.document_id,
                chunk.id,
                chunk.title,
                chunk.page,
                snippet,
                chunk.version,
                span,
                chunk.suspicious,
            )
        )
    return tuple(out)


def drop_unknown_markers(text: str, provided: int) -> tuple[str, int]:
    """`text` without the `[n]` markers that name no provided source, and how many there were."""
    dropped = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal dropped
        if 1 <= int(match.group(2)) <= provided:
            return match.group(0)
        dropped += 1
        return ""

    return _MARKER_WITH_SPACE.sub(keep, text).strip(), dropped


def relevance(query: str, hits: Sequence[ScoredChunk]) -> float:
    """The largest share of the query's key terms one passage contains (1.0 when the query has
    none, or when a passage is in another language and only its meaning can match)."""
    wanted = set(terms(query))
    if not wanted or not hits:
        return 1.0 if hits else 0.0
    language = detect(query)
    best = 0.0
    for hit in hits:
        if detect(hit.chunk.text[:400]) != language:
            return 1.0
        have = set(terms(f"{hit.chunk.title} {hit.chunk.text}"))
        best = max(best, len(wanted & have) / len(wanted))
    return best


def _with_markers(sentence: SentenceSupport) -> str:
    return sentence.text + "".join(f" [{n}]" for n in sentence.citations)


class AnswerService:
    """Retrieves what the principal may read and answers from it, with the LLM or extractively."""

    def __init__(
        self,
        retriever: Retriever,
        llm: LLMClient | None,
        verifier: Verifier,
        settings: AnswerSettings,
        sources: int,
        reply_tokens: int = 512,
    ) -> None:
        self._retriever = retriever
        self._llm = llm
        self._verifier = verifier
        self._settings = settings
        self._sources = sources
        self._reply_tokens = reply_tokens

    @property
    def history_turns(self) -> int:
        """How many earlier turns of a conversation feed a follow-up's retrieval."""
        return self._settings.history_turns

    def answer(self, principal: Principal, question: str, history: Sequence[Turn] = ()) -> Answer:
        """A complete answer for `principal`."""
        final: Answer | None = None
        for part in self.stream(principal, question, history):
            if isinstance(part, Answer):
                final = part
        assert final is not None
        return final

    def stream(
        self, principal: Principal, question: str, history: Sequence[Turn] = ()
    ) -> Iterator[str | Answer]:
        """Text pieces as they are generated, then the final, checked `Answer` (always last).

        The final answer's text is what the user may rely on: it can differ from the pieces
        when unsupported sentences were removed or the whole answer became a refusal.
        """
        if not isinstance(principal, Principal):
            raise Unauthenticated("an answer requires an authenticated principal")
        language = detect(question)
        mode = "llm" if self._llm is not None else "extractive"
        if self._llm is not None:
            self._llm.check_capacity()  # an overloaded model refuses at once, not after retrieval
        query = standalone(question, history[-self._settings.history_turns :], self._llm)
        hits = self._retriever.search(principal, query, self._sources)
        if not hits:
            answer = self._refusal(language, mode)
        elif self._llm is None:  # the extractive answerer judges answerability per sentence
            answer = self._extractive(query, hits, language)
        elif relevance(query, hits) < self._settings.min_relevance:
            answer = self._refusal(language, mode)  # not worth a generation
        else:
            generated = yield from self._generate(self._llm, question, query, hits, language)
            answer = self._fall_back(generated, query, hits, language)
            if answer is generated:
                yield answer
                return
        yield answer.text
        yield answer

    @staticmethod
    def _refusal(
        language: Language, mode: str, sentences: tuple[SentenceSupport, ...] = (), dropped: int = 0
    ) -> Answer:
        return Answer(say("refusal", language), False, (), mode, True, 0.0, sentences, dropped, language)

    def _generate(
        self, llm: LLMClient, question: str, query: str, hits: Sequence[ScoredChunk], language: Language
    ) -> Generator[str, None, Answer]:
        """Stream the model's answer; returns it checked."""
        budget = llm.context_tokens() - self._reply_tokens - RESERVED_TOKENS
        asked = question if query == question else f"{question}\n(In this conversation: {query})"
        prompt = build_prompt(asked, hits, estimate_tokens, budget, language, llm.count_tokens)
        if not prompt.sources:
            return self._refusal(language, "llm")
        pieces: list[str] = []
        with closing(llm.stream(prompt.messages)) as stream:
            for piece in stream:
                pieces.append(piece)
                yield piece
        generated = "".join(pieces).strip()
        text, dropped = drop_unknown_markers(generated, len(prompt.sources))
        DROPPED_CITATIONS.inc(dropped)
        if not text or any(refusal in text for refusal in refusals()):
            return replace(self._refusal(language, "llm", (), dropped), generated=generated)
        return replace(self._checked(text, prompt.sources, "llm", language, dropped), generated=generated)

    def _fall_back(
        self, generated: Answer, query: str, hits: Sequence[ScoredChunk], language: Language
    ) -> Answer:
        """The model's answer when anything in it is supported; otherwise, by the settings, the
        checked extract from the sources (with the model's rejected sentences kept, marked)."""
        if not generated.refused or self._settings.fallback != "extract":
            return generated
        extract = self._extractive(query, hits, language)
        if extract.refused:
            return generated
        rejected = tuple(s for s in generated.sentences if not s.supported)
        sentences = extract.sentences + rejected
        supported = sum(s.supported for s in sentences)
        FALLBACKS.inc()
        return replace(
            extract,
            sentences=sentences,
            groundedness=supported / len(sentences),
            dropped_citations=generated.dropped_citations,
            generated=generated.generated,
        )

    def _extractive(self, query: str, hits: Sequence[ScoredChunk], language: Language) -> Answer:
        extracts = extractive.best_sentences(query, hits)
        if not extracts:
            return self._refusal(language, "extractive")
        label, _, body = extractive.render(extracts, language).partition("\n\n")
        answer = self._checked(body, hits, "extractive", language, 0)
        return answer if answer.refused else replace(answer, text=f"{label}\n\n{answer.text}")

    def _checked(
        self, text: str, sources: Sequence[ScoredChunk], mode: str, language: Language, dropped: int
    ) -> Answer:
        """`text` checked against `sources`: a refusal when nothing is supported; unsupported
        sentences removed (or only marked, by the settings)."""
        verification: Verification = self._verifier.verify(text, sources)
        sentences = verification.sentences
        supported = [s for s in sentences if s.supported]
        UNSUPPORTED.inc(len(sentences) - len(supported))
        if not supported:
            refusal = say("refusal", language)
            return Answer(
                refusal, False, (), mode, True, verification.groundedness, sentences, dropped, language
            )
        shown = sentences
        if len(supported) < len(sentences) and self._settings.unsupported == "drop":
            shown = tuple(supported)
            text = " ".join(_with_markers(s) for s in supported)
        cited = citations_for([n for s in shown for n in s.citations], sources, verification.spans)
        grounded = bool(cited) and all(s.supported for s in shown)
        return Answer(
            text, grounded, cited, mode, False, verification.groundedness, sentences, dropped, language
        )
