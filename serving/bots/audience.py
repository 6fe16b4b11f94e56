"""Who hears an answer posted in a group chat or channel, and so what it may draw on.

An answer posted where several people read it uses only the documents every current member
may read: the asker's principal narrowed by each other member's tokens (`Principal.heard_by`),
which the vector index applies inside its ACL filter. A member Sillok does not know reads
public documents only, so one such member narrows the answer to public documents; so does a
channel too large to list or one whose members cannot be read. Rosters (who is in a channel)
are cached briefly and dropped when the platform reports a membership change; what each member
may read is looked up on every answer, so a permission change counts at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.acl import PUBLIC, Principal
from core.bot_settings import BotSettings
from serving.bots.chat import ChatPlace, ChatUser, Directory
from serving.bots.identity import ChatIdentities

PUBLIC_ONLY = frozenset({PUBLIC})
Heard = Literal["channel", "public"]


@dataclass(frozen=True)
class _Roster:
    members: tuple[ChatUser, ...] | None  # None: public documents only
    read_at: float


class Audiences:
    """Channel audiences, with rosters cached for `roster_ttl_s`."""

    def __init__(
        self, identities: ChatIdentities, settings: BotSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._identities = identities
        self._settings = settings
        self._clock = clock
        self._rosters: dict[tuple[str, str, str], _Roster] = {}
        self._lock = threading.Lock()

    def narrow(
        self, asker: Principal, who: ChatUser, place: ChatPlace, directory: Directory
    ) -> tuple[Principal, Heard]:
        """`asker` narrowed to what every member of `place` may read, and whether that is the
        channel's members or public documents only."""
        roster = self._roster(place, directory)
        if roster.members is None:
            return asker.heard_by([PUBLIC_ONLY]), "public"
        others = [m for m in roster.members if m != who]
        principals = self._identities.principals(others, directory)
        return asker.heard_by(p.tokens() if p else PUBLIC_ONLY for p in principals), "channel"

    def forget(self, place: ChatPlace) -> None:
        """Drop the cached roster of `place` (its membership changed)."""
        with self._lock:
            self._rosters.pop(_key(place), None)

    def _roster(self, place: ChatPlace, directory: Directory) -> _Roster:
        now = self._clock()
        with self._lock:
            cached = self._rosters.get(_key(place))
        if cached is not None and now - cached.read_at < self._settings.roster_ttl_s:
            return cached
        members = directory.members_of(place, self._settings.max_audience)
        if members is not None and len(members) > self._settings.max_audience:
            members = None
        roster = _Roster(tuple(members) if members is not None else None, now)
        with self._lock:
            if len(self._rosters) > 10_000:  # bounded: a busy workspace cannot grow it without end
                self._rosters.clear()
            self._rosters[_key(place)] = roster
        return roster


def _key(place: ChatPlace) -> tuple[str, str, str]:
    return (place.platform, place.tenant, place.channel_id)
