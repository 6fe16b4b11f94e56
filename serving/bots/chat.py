"""The bots' platform-neutral vocabulary: who asks, where, and what a platform tells about people.

Slack and Teams translate their events into these types; everything the bots decide (who the
asker is, who hears the answer) is decided on them, the same way for both platforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Platform = Literal["slack", "teams"]
PlaceKind = Literal["direct", "group", "channel"]


@dataclass(frozen=True)
class ChatUser:
    """A chat account: the Slack team or Teams tenant it belongs to, and its id there."""

    platform: Platform
    tenant: str  # Slack team id / Teams tenant id
    external_id: str  # Slack user id / Azure AD object id


@dataclass(frozen=True)
class ChatPlace:
    """Where a question was asked: a direct message, a group chat or a channel (and thread)."""

    platform: Platform
    tenant: str
    channel_id: str  # Slack channel id / Teams conversation id
    kind: PlaceKind
    thread_id: str | None = None  # Slack thread ts / Teams reply chain id


@dataclass(frozen=True)
class Question:
    """One question delivered by a platform; `event_key` identifies its delivery (retries of
    it carry the same key). `private` asks for a reply only the asker sees."""

    asker: ChatUser
    place: ChatPlace
    text: str
    event_key: str
    private: bool = False


class Directory(Protocol):
    """What a platform can tell about people, over its own API."""

    def email_of(self, user: ChatUser) -> str | None:
        """The account's verified email or UPN; None when the platform does not give one."""
        ...

    def members_of(self, place: ChatPlace, limit: int) -> list[ChatUser] | None:
        """Every current member of `place`; None when unresolvable or more than `limit`."""
        ...
