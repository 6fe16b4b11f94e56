"""Verifying the Bot Connector's token on every activity (`Authorization: Bearer …`).

RS256 only, the audience must be the bot's app id, the issuer one of `teams.issuers` (the
SDK's own validator leaves issuer checks off by default and fetches keys only from Microsoft's
hosts, so the check is done here over the configured OpenID metadata). The token's
`serviceurl` claim must name the activity's service URL, so a token minted for one connector
cannot direct replies to another.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import jwt

from core.bot_settings import TeamsSettings

LEEWAY_S = 300  # the Bot Framework's documented clock skew allowance
METADATA_TIMEOUT_S = 10.0


class TokenRefused(Exception):
    """The activity's token is missing or not valid for this bot."""


class ChannelTokens:
    """Validates channel tokens against the configured OpenID metadata's signing keys."""

    def __init__(self, settings: TeamsSettings) -> None:
        self._settings = settings
        self._keys: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._keys is None:
                # the URL is a validated http(s) setting
                request = urllib.request.Request(self._settings.openid_metadata_url)  # noqa: S310
                with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT_S) as response:  # noqa: S310
                    metadata = json.load(response)
                # PyJWKClient caches the keys and refetches on an unknown key id (key rollover).
                self._keys = jwt.PyJWKClient(str(metadata["jwks_uri"]), cache_keys=True, lifespan=86_400)
            return self._keys

    def validate(self, authorization: str | None, service_url: str | None) -> dict[str, Any]:
        """The token's claims; raises `TokenRefused` for anything not valid."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise TokenRefused("missing token")
        token = authorization[7:].strip()
        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                audience=self._settings.app_id,
                issuer=self._settings.issuers,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, OSError, KeyError, ValueError) as exc:
            raise TokenRefused(type(exc).__name__) from exc
        claimed = claims.get("serviceurl")
        if claimed is not None and (service_url is None or claimed.rstrip("/") != service_url.rstrip("/")):
            raise TokenRefused("service URL differs from the token's")
        return claims
