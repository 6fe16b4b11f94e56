"""The composition root of the bots: answering as a user, and nothing else.

A bot maps a chat account to a Sillok user, asks through `Asking` (the same ACL filter, history
and audit as every channel) and renders the reply. It builds no web app and no ingestion side.
The `sillok bots` process builds it on its own; `sillok serve` builds it over its own root
(`shared`), so one process does not open the database or load the models twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core.settings import Settings
from core.telemetry import setup_tracing
from serving.asking import Asking
from serving.bots.answering import BotAnswerer
from serving.bots.audience import Audiences
from serving.bots.identity import ChatIdentities
from serving.bots.ledger import Deliveries, Threads
from serving.factories import Searching, Stores
from serving.logs import configure_logging


@dataclass
class BotServices(Searching):
    """The answering services of `Searching`, and the bots' identities, audiences and deliveries."""

    @cached_property
    def answerer(self) -> BotAnswerer:
        """The one entry point every platform calls."""
        from serving.ratelimit import AbuseLimits, make_limiter

        sessions = self.database.sessions
        identities = ChatIdentities(sessions)
        bots = self.settings.bots
        return BotAnswerer(
            asking=self.asking,
            identities=identities,
            audiences=Audiences(identities, bots),
            deliveries=Deliveries(sessions, bots.event_ttl_s),
            threads=Threads(sessions),
            conversations=self.conversations,
            documents=self.documents,
            limits=AbuseLimits(make_limiter(self.settings), self.settings.limits),
            settings=bots,
        )

    @cached_property
    def asking(self) -> Asking:
        """The host root's `Asking` when hosted in its process (one set of generation slots for
        every channel there), else this root's own."""
        if isinstance(self.shared, Searching):
            return self.shared.asking
        return Asking(self.answers, self.retriever, self.conversations, self.audit)

    @property
    def enabled(self) -> list[str]:
        """The platforms configured to answer: "slack" (HTTP Events or Socket Mode), "teams"."""
        platforms = []
        if self.settings.slack.http_enabled or self.settings.slack.socket_enabled:
            platforms.append("slack")
        if self.settings.teams.app_id or self.settings.teams.anonymous:
            platforms.append("teams")
        return platforms


def build_bots(settings: Settings | None = None, shared: Stores | None = None) -> BotServices:
    """The bots' root: on its own (logging configured, data dir created), or over `shared`."""
    if shared is not None:
        return BotServices(shared.settings, shared=shared)
    settings = settings or Settings()
    configure_logging(settings)
    setup_tracing(settings.telemetry)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return BotServices(settings)
