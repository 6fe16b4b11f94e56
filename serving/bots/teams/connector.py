"""Calls to the Bot Connector (the SDK's `ConnectorClient`), from worker threads.

The SDK's clients are asynchronous; answers are generated in worker threads. One event loop in
a thread of its own runs every connector call, and `Connector.call` waits for the result, so
the answering code stays synchronous. Only allow-listed service URLs are ever called.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from microsoft_agents.activity import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    PagedMembersResult,
)
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration
from microsoft_agents.hosting.core.connector.client import ConnectorClient

from core.bot_settings import TeamsSettings

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0
CONNECTOR_SCOPE = "https://api.botframework.com/.default"


class ServiceUrlRefused(Exception):
    """An activity named a service URL outside `teams.service_urls`."""


def allowed(service_url: str | None, settings: TeamsSettings) -> bool:
    """Whether replies may go to `service_url` (a prefix match on the allow-list)."""
    if not service_url:
        return False
    url = service_url if service_url.endswith("/") else service_url + "/"
    return any(url.startswith(prefix) for prefix in settings.service_urls)


class Connector:
    """The bot's connector client: tokens from MSAL (or none in anonymous mode), one loop."""

    def __init__(self, settings: TeamsSettings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="teams-connector", daemon=True)
        self._thread.start()
        self._token: Callable[[], Awaitable[str]] = self._token_provider()

    def _token_provider(self) -> Callable[[], Awaitable[str]]:
        settings = self._settings
        if settings.anonymous or not (settings.app_id and settings.app_password):

            async def anonymous() -> str:
                return ""

            return anonymous
        from microsoft_agents.authentication.msal import MsalAuth

        tenant = settings.tenant_id or "botframework.com"
        authority = (settings.token_authority or "https://login.microsoftonline.com").rstrip("/")
        auth = MsalAuth(
            AgentAuthConfiguration(
                CLIENT_ID=settings.app_id,
                CLIENT_SECRET=settings.app_password.get_secret_value(),
                TENANT_ID=tenant,
                AUTHORITY=f"{authority}/{tenant}",
            )
        )

        async def token() -> str:
            # MSAL caches the token and refreshes it before expiry.
            return await auth.get_access_token(CONNECTOR_SCOPE, [CONNECTOR_SCOPE])

        return token

    def call(self, service_url: str, operation: Callable[[ConnectorClient], Coroutine[Any, Any, T]]) -> T:
        """Run `operation` on a client for `service_url` (allow-listed) and return its result."""
        if not allowed(service_url, self._settings):
            raise ServiceUrlRefused(service_url)

        async def run() -> T:
            client = ConnectorClient(service_url, await self._token())
            try:
                return await operation(client)
            finally:
                await client.close()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout=CALL_TIMEOUT_S)

    def send(self, service_url: str, conversation_id: str, activity: Activity) -> str:
        """Post `activity` to a conversation; the new activity's id."""
        response = self.call(
            service_url, lambda c: c.conversations.send_to_conversation(conversation_id, activity)
        )
        return str(response.id or "")

    def update(self, service_url: str, conversation_id: str, activity_id: str, activity: Activity) -> None:
        """Replace a posted activity (PUT), as a streamed answer grows."""
        activity.id = activity_id
        self.call(
            service_url, lambda c: c.conversations.update_activity(conversation_id, activity_id, activity)
        )

    def member(self, service_url: str, conversation_id: str, member_id: str) -> ChannelAccount:
        """One member of a conversation, with email and UPN."""
        return self.call(
            service_url, lambda c: c.conversations.get_conversation_member(conversation_id, member_id)
        )

    def members_page(
        self, service_url: str, conversation_id: str, token: str | None, page_size: int
    ) -> PagedMembersResult:
        """One page of a conversation's members."""
        return self.call(
            service_url,
            lambda c: c.conversations.get_conversation_paged_members(conversation_id, page_size, token),
        )

    def personal_chat(self, service_url: str, tenant: str, bot: ChannelAccount | None, user_id: str) -> str:
        """The 1:1 conversation of the bot and one user (created, or the existing one returned)."""
        parameters = ConversationParameters.model_validate(
            {
                "isGroup": False,
                "bot": bot.model_dump(by_alias=True, exclude_none=True) if bot else None,
                "members": [{"id": user_id}],
                "tenantId": tenant,
                "channelData": {"tenant": {"id": tenant}},
            }
        )
        response = self.call(service_url, lambda c: c.conversations.create_conversation(parameters))
        return str(response.id)

    def close(self) -> None:
        """Stop the connector loop."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
