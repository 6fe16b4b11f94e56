"""The composition root of the API process (`sillok serve`): what the routes use, and no more.

The API registers files and queues work by task name; it never builds the parser or the
ingestion pipeline. On the embedded default `sillok serve` also hosts a worker, built by
`serving.worker.bootstrap` over this root's database, embedder and index.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from core.settings import Settings
from core.telemetry import setup_tracing, telemetry_of
from serving.factories import Searching, runs_worker
from serving.logs import configure_logging

if TYPE_CHECKING:
    from core.auth.oidc import OidcAuthenticator
    from core.auth.oidc_login import OidcLogin
    from core.auth.passwords import PasswordStore
    from core.auth.sessions import WebSessions
    from core.idempotency import IdempotencyKeys
    from serving.ratelimit import AbuseLimits


@dataclass
class ApiServices(Searching):
    """Every dependency of the API's routes, each built on first use and once."""

    @cached_property
    def oidc(self) -> OidcAuthenticator | None:
        """Validates the configured issuer's access tokens; None when OIDC is off."""
        from core.auth.oidc import make_oidc

        return make_oidc(self.settings.oidc, self.users)

    @cached_property
    def passwords(self) -> PasswordStore:
        """Local accounts' password hashes."""
        from core.auth.passwords import PasswordStore

        return PasswordStore(self.database.sessions)

    @cached_property
    def oidc_login(self) -> OidcLogin:
        """The web UI's sign-in through the identity provider (needs issuer and client id)."""
        from core.auth.oidc_login import OidcLogin
        from core.errors import NotFound

        if not (self.settings.oidc.issuer and self.settings.oidc.client_id):
            raise NotFound("sign-in with an identity provider is not configured")
        return OidcLogin(self.settings.oidc, self.users)

    @cached_property
    def web_sessions(self) -> WebSessions:
        """Browser sessions of the web UI."""
        from core.auth.sessions import WebSessions

        return WebSessions(self.database.sessions)

    @cached_property
    def idempotency(self) -> IdempotencyKeys:
        """First answers to writes sent with an `Idempotency-Key`, replayed to their retries."""
        from core.idempotency import IdempotencyKeys

        return IdempotencyKeys(self.database.sessions)

    @cached_property
    def abuse_limits(self) -> AbuseLimits:
        """Request rates and failed sign-ins, in Redis when one is configured."""
        from serving.ratelimit import AbuseLimits, make_limiter

        return AbuseLimits(make_limiter(self.settings), self.settings.limits)

    @property
    def runs_worker(self) -> bool:
        """Whether this process also consumes the queues (the embedded default)."""
        return runs_worker(self.settings)


def build_api(settings: Settings | None = None) -> ApiServices:
    """The API's root for this process's settings (logging configured, data dir created)."""
    settings = settings or Settings()
    configure_logging(settings)
    setup_tracing(telemetry_of(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ApiServices(settings)
