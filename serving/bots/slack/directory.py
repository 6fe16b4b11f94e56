"""The bots' `Directory` over Slack's Web API: verified emails and channel members."""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk import WebClient

from serving.bots.chat import ChatPlace, ChatUser

_MAX_CACHED = 50_000


class SlackDirectory:
    """People as Slack tells them: `users.info` (email needs `users:read.email`) and
    `conversations.members`, cursor-paged. Bots (Sillok's own included) and deactivated
    accounts are not members who read; a Slack Connect user of another team has no email here
    Sillok can trust, so binds nobody."""

    def __init__(self, client: WebClient, team: str, own_user_id: str | None) -> None:
        self._client = client
        self._team = team
        self._own = own_user_id
        self._profiles: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _profile(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            cached = self._profiles.get(user_id)
        if cached is not None:
            return cached
        user = dict(self._client.users_info(user=user_id)["user"])
        with self._lock:
            if len(self._profiles) >= _MAX_CACHED:
                self._profiles.clear()
            self._profiles[user_id] = user
        return user

    def email_of(self, user: ChatUser) -> str | None:
        """The account's email when it is a person of this workspace."""
        profile = self._profile(user.external_id)
        if (
            profile.get("is_bot")
            or profile.get("deleted")
            or profile.get("team_id", self._team) != self._team
        ):
            return None
        email = (profile.get("profile") or {}).get("email")
        return str(email) if email else None

    def members_of(self, place: ChatPlace, limit: int) -> list[ChatUser] | None:
        """The people in a channel (not bots), or None above `limit`."""
        members: list[ChatUser] = []
        cursor = None
        while True:
            page = self._client.conversations_members(channel=place.channel_id, cursor=cursor, limit=200)
            for user_id in page["members"]:
                if user_id == self._own:
                    continue
                profile = self._profile(user_id)
                if profile.get("is_bot") or profile.get("deleted"):
                    continue
                members.append(ChatUser("slack", place.tenant, user_id))
                if len(members) > limit:
                    return None
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members
