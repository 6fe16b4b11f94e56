"""Settings of the Slack and Teams bots (`SILLOK_SLACK__*`, `SILLOK_TEAMS__*`, `SILLOK_BOTS__*`).

A bot is on when its credentials are set: Slack with a bot token and a signing secret (HTTP
Events) or an app token (Socket Mode); Teams always answers `/api/messages`, and verifies the
channel's tokens whenever an app id is set.
"""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


def _base_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


class SlackSettings(BaseModel):
    """The Slack app's credentials and where its Web API is (a proxy on premises, or a test)."""

    bot_token: SecretStr | None = None  # xoxb-…
    signing_secret: SecretStr | None = None  # verifies HTTP Events and interactivity
    app_token: SecretStr | None = None  # xapp-…, Socket Mode only
    api_base_url: str | None = None  # None: https://slack.com/api/

    @field_validator("api_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _base_url(value)

    @model_validator(mode="after")
    def _complete(self) -> SlackSettings:
        if (self.signing_secret or self.app_token) and not self.bot_token:
            raise ValueError("slack.bot_token is required with a signing secret or an app token")
        return self

    @property
    def http_enabled(self) -> bool:
        """Whether `POST /slack/events` answers (a bot token and a signing secret are set)."""
        return self.bot_token is not None and self.signing_secret is not None

    @property
    def socket_enabled(self) -> bool:
        """Whether the bots process connects in Socket Mode (a bot token and an app token)."""
        return self.bot_token is not None and self.app_token is not None


class TeamsSettings(BaseModel):
    """The Teams (Azure Bot) registration and the Bot Connector hosts replies may go to."""

    app_id: str | None = None  # set: every activity's channel token is verified
    app_password: SecretStr | None = None
    tenant_id: str | None = None  # single-tenant registration; None: multi-tenant
    # Where the channel's signing keys are published, and the issuers its tokens may name.
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    issuers: list[str] = ["https://api.botframework.com"]
    # The Entra authority the bot's own connector tokens come from (None: the public cloud's,
    # https://login.microsoftonline.com/{tenant_id}); a sovereign cloud or a proxy sets it.
    token_authority: str | None = None
    # A local Bot Framework Emulator only: accept activities without a token and reply
    # without one. Off by default: without an app id every activity is refused.
    anonymous: bool = False
    # Replies go only to these service URL prefixes; an activity naming another is refused.
    service_urls: list[str] = [
        "https://smba.trafficmanager.net/",
        "https://smba.infra.gcc.teams.microsoft.com/",
        "https://smba.infra.gov.teams.microsoft.us/",
    ]

    @field_validator("service_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        return [u for u in (_base_url(v) for v in value) if u]

    @field_validator("openid_metadata_url", "token_authority")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        checked = _base_url(value)
        return checked.rstrip("/") if checked else None

    @model_validator(mode="after")
    def _complete(self) -> TeamsSettings:
        if self.app_id and not self.app_password:
            raise ValueError("teams.app_password is required with teams.app_id")
        return self


class BotSettings(BaseModel):
    """How the bots decide who hears an answer, and how long they trust what they looked up."""

    # A channel with more members than this is answered from public documents only.
    max_audience: int = Field(default=200, ge=1, le=10_000)
    roster_ttl_s: float = Field(default=60.0, gt=0, le=3600)  # a channel's members, cached
    event_ttl_s: int = Field(default=86_400, ge=60)  # how long a delivered event id is remembered
    web_url: str | None = None  # the web UI's address, for source links; None: no links

    @field_validator("web_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        checked = _base_url(value)
        return checked.rstrip("/") if checked else None
