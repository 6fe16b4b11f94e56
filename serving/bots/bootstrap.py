"""The composition root of the bots process: answering as a user, and nothing else.

A bot maps a chat account to a Sillok user, asks through `Asking` (the same ACL filter, history
and audit as every channel) and renders the reply. It builds no web app and no ingestion side.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from serving.factories import Searching
from serving.logs import configure_logging


@dataclass
class BotServices(Searching):
    """The users (to resolve who asks) and the answering services of `Searching`."""


def build_bots(settings: Settings | None = None) -> BotServices:
    """The bots process's root (logging configured, data dir created)."""
    settings = settings or Settings()
    configure_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return BotServices(settings)
