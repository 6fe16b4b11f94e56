"""The composition root of a CLI command: the stores and the query side on first use, and a
worker of its own (over the same stores) only for the commands that process files here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from core.settings import Settings
from core.telemetry import setup_tracing, telemetry_of
from serving.factories import Searching, runs_worker
from serving.logs import configure_logging

if TYPE_CHECKING:
    from core.auth.passwords import PasswordStore
    from serving.worker.bootstrap import WorkerServices


@dataclass
class CliServices(Searching):
    """What `sillok` commands use."""

    @cached_property
    def passwords(self) -> PasswordStore:
        """Local accounts' password hashes (`sillok users passwd`)."""
        from core.auth.passwords import PasswordStore

        return PasswordStore(self.database.sessions)

    @cached_property
    def worker(self) -> WorkerServices:
        """The ingestion side, over this root's database, embedder and index."""
        from serving.worker.bootstrap import build_worker

        return build_worker(shared=self)

    @property
    def runs_worker(self) -> bool:
        """Whether ingestion runs in-process here (no broker configured)."""
        return runs_worker(self.settings)

    def close(self) -> None:
        """Release the worker's parser, the index and the database."""
        if "worker" in self.__dict__:
            self.worker.close()
        super().close()


def build_cli(settings: Settings | None = None) -> CliServices:
    """The root of one CLI command (logging configured, data dir created)."""
    settings = settings or Settings()
    configure_logging(settings)
    setup_tracing(telemetry_of(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return CliServices(settings)
