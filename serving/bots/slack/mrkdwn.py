"""Answers as Slack Block Kit: the answer in mrkdwn, numbered sources, groundedness, feedback.

Slack's mrkdwn is not Markdown: bold is `*x*`, links are `<url|text>`, and `&`, `<`, `>` must be
escaped, or a passage quoting `<!channel>` would notify everyone in it.
"""

from __future__ import annotations

import re
from typing import Any

from serving.bots.answering import BotAnswer, Notice

SECTION_LIMIT = 2900  # Slack refuses a section text over 3000 characters
FEEDBACK_UP, FEEDBACK_DOWN, SHARE = "sillok_feedback_up", "sillok_feedback_down", "sillok_share"

_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def escape(text: str) -> str:
    """Text safe inside mrkdwn: no mentions, links or markup of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The answer's Markdown (bold, links, headings, lists) in Slack's mrkdwn."""
    links: list[str] = []

    def keep(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2)}|{escape(match.group(1)).replace('|', '¦')}>")
        return f"\x00{len(links) - 1}\x00"

    text = escape(_LINK.sub(keep, markdown))
    text = _HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)


def _sections(text: str) -> list[dict[str, Any]]:
    pieces = [text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)] or [" "]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in pieces]


def verdict(answer: BotAnswer) -> str:
    """The groundedness indicator shown under every answer."""
    if answer.refused:
        return "ℹ️ The documents available here do not answer this."
    if answer.grounded:
        return f"✅ Checked against its sources ({answer.groundedness:.2f})"
    return (
        f"⚠️ Not fully supported by its sources ({answer.groundedness:.2f}): check them before relying on it"
    )


def answer_blocks(answer: BotAnswer, private: bool) -> list[dict[str, Any]]:
    """Blocks of a final answer; a private answer also offers to share it in the channel."""
    blocks = _sections(to_mrkdwn(answer.text))
    if answer.sources:
        lines = []
        for source in answer.sources:
            title = escape(source.title or "untitled").replace("|", "¦")
            page = f" (p. {source.page})" if source.page else ""
            lines.append(
                f"[{source.n}] <{source.url}|{title}>{page}" if source.url else f"[{source.n}] {title}{page}"
            )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)}]})
    audience = {
        "asker": "your permissions",
        "channel": "what everyone here may read",
        "public": "public documents",
    }
    note = f"{verdict(answer)} · answered from {audience[answer.audience]}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    message = str(answer.message_id)
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": FEEDBACK_UP,
            "text": {"type": "plain_text", "text": "👍"},
            "value": message,
        },
        {
            "type": "button",
            "action_id": FEEDBACK_DOWN,
            "text": {"type": "plain_text", "text": "👎"},
            "value": message,
        },
    ]
    if private:
        share = {"type": "plain_text", "text": "Share in channel"}
        buttons.append({"type": "button", "action_id": SHARE, "text": share, "value": message})
    blocks.append({"type": "actions", "block_id": f"sillok_{message}", "elements": buttons})
    return blocks


def streaming_blocks(text: str) -> list[dict[str, Any]]:
    """Blocks of an answer still being written."""
    return [
        *_sections(to_mrkdwn(text)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "✍️ writing…"}]},
    ]


def notice_blocks(notice: Notice) -> list[dict[str, Any]]:
    """Blocks of a notice (failure with its reference, unknown user, rate limit, …)."""
    return _sections(escape(notice.text))
