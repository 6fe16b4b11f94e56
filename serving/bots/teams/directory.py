"""The core's `Directory` for Teams: emails and rosters from the Bot Connector.

A member's email or UPN comes from `GET v3/conversations/{id}/members/{userId}` (Teams fills
them from Entra ID, so they are verified); a roster from the paged members of the
conversation. Both are asked of the service URL the activity came from, which is allow-listed.
"""

from __future__ import annotations

from typing import Any

import structlog

from serving.bots.chat import ChatPlace, ChatUser
from serving.bots.teams.connector import Connector

log = structlog.get_logger(__name__)
PAGE_SIZE = 100  # the connector's largest page


def _extra(account: Any, name: str) -> str | None:
    value = (account.model_extra or {}).get(name)
    return value if isinstance(value, str) and value else None


class TeamsDirectory:
    """People of one Teams conversation, as the connector reports them."""

    def __init__(self, connector: Connector, service_url: str, conversation_id: str, tenant: str) -> None:
        self._connector = connector
        self._service_url = service_url
        self._conversation_id = conversation_id
        self._tenant = tenant
        self._emails: dict[str, str] = {}

    def email_of(self, user: ChatUser) -> str | None:
        """The user's email (or UPN), None when the connector does not know them."""
        if user.external_id in self._emails:
            return self._emails[user.external_id]
        try:
            member = self._connector.member(self._service_url, self._conversation_id, user.external_id)
        except Exception as exc:  # unknown to the connector: the core tells the user how to get access
            log.info("teams_member_lookup_failed", error=type(exc).__name__)
            return None
        email = _extra(member, "email") or _extra(member, "userPrincipalName")
        if email:
            self._emails[user.external_id] = email
        return email

    def members_of(self, place: ChatPlace, limit: int) -> list[ChatUser] | None:
        """Every current member of `place`, or None when unresolvable or above `limit`."""
        members: list[ChatUser] = []
        token: str | None = None
        try:
            while True:
                page = self._connector.members_page(
                    self._service_url, place.channel_id, token, min(PAGE_SIZE, limit + 1)
                )
                for account in page.members or []:
                    external = account.aad_object_id or account.id
                    members.append(ChatUser("teams", place.tenant, external))
                    email = _extra(account, "email") or _extra(account, "userPrincipalName")
                    if email:
                        self._emails[external] = email
                if len(members) > limit:
                    return None
                token = page.continuation_token
                if not token:
                    return members
        except Exception as exc:  # an unreadable roster: the core answers from public documents
            log.warning("teams_roster_failed", error=type(exc).__name__)
            return None
