"""Adaptive Cards for Teams: an answer with numbered sources, groundedness and feedback buttons.

Cards are built from a `BotAnswer` only, so what a card shows is exactly what the core decided
the audience may read. Action data carries a message id and a kind, nothing else; the core
re-checks the user behind every action.
"""

from __future__ import annotations

from typing import Any

from serving.bots.answering import BotAnswer, Notice

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
MAX_TEXT = 20_000  # Teams refuses activities above ~28 KB; the rest of the card is small


def grounded_label(answer: BotAnswer) -> str:
    """The groundedness indicator shown under an answer."""
    if answer.refused:
        return "Not answered from the documents"
    percent = round(answer.groundedness * 100)
    return f"Grounded in the sources ({percent}%)" if answer.grounded else f"Weakly grounded ({percent}%)"


def _source_line(source: Any) -> str:
    page = f", p. {source.page}" if source.page is not None else ""
    title = source.title.replace("[", "(").replace("]", ")")
    label = f"{title}{page}"
    return f"{source.n}. [{label}]({source.url})" if source.url else f"{source.n}. {label}"


def answer_card(answer: BotAnswer, share_to: str | None = None) -> dict[str, Any]:
    """The card of a finished answer. `share_to` (a conversation id) adds "Share in channel"
    to a private answer asked from that channel."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": answer.text[:MAX_TEXT], "wrap": True}]
    if answer.sources:
        body.append({"type": "TextBlock", "text": "Sources", "weight": "Bolder", "spacing": "Medium"})
        body.append(
            {"type": "TextBlock", "text": "\n".join(_source_line(s) for s in answer.sources), "wrap": True}
        )
    body.append(
        {
            "type": "TextBlock",
            "text": grounded_label(answer),
            "isSubtle": True,
            "size": "Small",
            "color": "Good" if answer.grounded and not answer.refused else "Warning",
        }
    )
    actions: list[dict[str, Any]] = [
        {"type": "Action.Submit", "title": "👍", "data": _data("feedback", answer, rating=1)},
        {"type": "Action.Submit", "title": "👎", "data": _data("feedback", answer, rating=-1)},
    ]
    if share_to is not None and answer.audience == "asker":
        actions.append(
            {
                "type": "Action.Submit",
                "title": "Share in channel",
                "data": _data("share", answer, place=share_to),
            }
        )
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body, "actions": actions}


def streaming_card(text: str) -> dict[str, Any]:
    """The card an answer is written into while it streams (no actions until it is final)."""
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": [
            {"type": "TextBlock", "text": text[:MAX_TEXT] or "…", "wrap": True},
            {"type": "TextBlock", "text": "Writing…", "isSubtle": True, "size": "Small"},
        ],
    }


def notice_text(notice: Notice) -> str:
    """A notice as a short message (a failure's text already carries its reference)."""
    return notice.text


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The activity attachment carrying `card`."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def _data(action: str, answer: BotAnswer, **extra: Any) -> dict[str, Any]:
    return {"sillok": action, "message_id": answer.message_id, **extra}
