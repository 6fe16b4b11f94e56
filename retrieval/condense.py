"""Follow-up questions made standalone, so that retrieval finds what the conversation is about.

"And for contractors?" retrieves nothing useful on its own. With a language model the follow-up
is rewritten as a standalone question; without one (or when the model fails, drifts, or answers
instead of rewriting), the rewrite is deterministic: the question plus the key words of the
previous questions that it does not repeat. The model's rewrite also gets those words when it
dropped them, so a small model cannot lose the topic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress

from core.errors import SillokError
from core.lexical import terms
from core.ports import LLMClient
from core.types import Turn

_FOLLOW_UP_CUES = re.compile(
    r"^\s*(and|also|what about|how about|what if|then|so|but|same|why|how come|"
    r"그럼|그러면|그리고|그건|그것|이건|이것|또|그래서|그런데|그 ?경우|저건)\b",
    re.IGNORECASE,
)
_PRONOUNS = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|there)\b", re.IGNORECASE)
# A rewrite is a question: it ends with a question mark or a Korean interrogative ending, and
# cites nothing. A small model often answers instead ("Employees receive 90 days [1] ..."),
# which would retrieve and extract for a statement.
_QUESTION_END = re.compile(r"([?？]|까|나요|가요|죠|니|래요|은요|는요|요)\s*[\"'”’)]*$")
_CITATION = re.compile(r"\[\d{1,3}\]|<source")
_FEW_TERMS = 3
_MAX_CARRIED = 12
_MAX_REWRITE_CHARS = 500
CONDENSE_PROMPT = """Rewrite the user's last question so that it can be understood without the conversation.
Keep its language. Do not answer it. Reply with the rewritten question only."""


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """Whether `question` leans on the conversation: few key words of its own, or a follow-up cue."""
    if not history:
        return False
    own = set(terms(question))
    return len(own) <= _FEW_TERMS or bool(_FOLLOW_UP_CUES.search(question) or _PRONOUNS.search(question))


def carried_words(question: str, history: Sequence[Turn]) -> list[str]:
    """Key words of the previous questions (most recent first) that `question` does not repeat."""
    have = set(terms(question))
    carried: list[str] = []
    for turn in reversed(history):
        for raw in turn.question.split():
            word = raw.strip(".,;:!?()[]{}\"'“”‘’")
            found = set(terms(word))
            if found and not found <= have:
                carried.append(word)
                have |= found
            if len(carried) >= _MAX_CARRIED:
                return carried
    return carried


def is_question(text: str) -> bool:
    """Whether a model's rewrite reads as a question rather than an answer."""
    return bool(text) and bool(_QUESTION_END.search(text)) and not _CITATION.search(text)


def deterministic(question: str, history: Sequence[Turn]) -> str:
    """The question with the conversation's key words appended when it is a follow-up."""
    if not is_follow_up(question, history):
        return question
    carried = carried_words(question, history)
    return f"{question} {' '.join(carried)}" if carried else question


def _messages(question: str, history: Sequence[Turn]) -> list[dict[str, str]]:
    lines = [f"User: {t.question}\nAssistant: {t.answer[:400]}" for t in history]
    conversation = "\n".join(lines)
    return [
        {"role": "system", "content": CONDENSE_PROMPT},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast question: {question}"},
    ]


def standalone(question: str, history: Sequence[Turn], llm: LLMClient | None) -> str:
    """What to retrieve for `question` asked after `history`."""
    if not history:
        return question
    fallback = deterministic(question, history)
    if llm is None or not is_follow_up(question, history):
        return fallback
    rewrite = ""
    with suppress(SillokError):
        rewrite = " ".join(llm.complete(_messages(question, history), max_tokens=96).split())
    if not is_question(rewrite) or len(rewrite) > _MAX_REWRITE_CHARS:
        return fallback
    missing = carried_words(rewrite, history)
    return f"{rewrite} {' '.join(missing)}" if missing else rewrite
