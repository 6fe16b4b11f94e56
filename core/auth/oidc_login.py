"""Web sign-in with an OpenID Connect provider: authorization code flow with PKCE (S256).

`start` gives the provider URL to send the browser to, plus the state, nonce and code verifier
the caller keeps for the way back (the web layer keeps them in a short-lived HttpOnly cookie).
`finish` exchanges the code with that verifier, verifies the ID token (signature, issuer,
audience = client id, expiry, nonce) and provisions the user like any access token would.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from core.acl import Principal
from core.auth.oidc import (
    ClaimMapping,
    HttpJwks,
    InvalidToken,
    JwksCache,
    OidcAuthenticator,
    TokenValidator,
    UserProvisioner,
)
from core.errors import DependencyUnavailable
from core.settings import OidcSettings, identity_url


@dataclass(frozen=True)
class PendingLogin:
    """Where to send the browser, and what to check when it comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcLogin:
    """The authorization code flow against the configured issuer, for one client id."""

    def __init__(
        self, settings: OidcSettings, users: UserProvisioner, client: httpx.Client | None = None
    ) -> None:
        if not (settings.issuer and settings.client_id):
            raise ValueError("OIDC sign-in needs oidc.issuer and oidc.client_id")
        self._settings = settings
        self._issuer, self._client_id = settings.issuer, settings.client_id
        self._http = client or httpx.Client(timeout=settings.timeout_s, follow_redirects=False)
        keys = JwksCache(
            HttpJwks(settings.issuer, settings.jwks_url, settings.timeout_s, self._http),
            settings.jwks_cache_s,
            settings.jwks_min_refresh_s,
        )
        self._validator = TokenValidator(
            settings.issuer, settings.client_id, keys, settings.algorithms, settings.leeway_s
        )
        mapping = ClaimMapping(settings.username_claim, settings.groups_claim, settings.groups_prefix)
        self._authenticator = OidcAuthenticator(self._validator, mapping, users)
        self._endpoints: dict[str, str] = {}

    def start(self, redirect_uri: str) -> PendingLogin:
        """A fresh login: the authorization URL with state, nonce and an S256 code challenge."""
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        return PendingLogin(
            f"{self._endpoint('authorization_endpoint')}?{urlencode(query)}", state, nonce, verifier
        )

    def finish(self, code: str, redirect_uri: str, verifier: str, nonce: str) -> Principal:
        """Exchange the code, verify the ID token and its nonce, and return its user."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self._client_id,
            "code_verifier": verifier,
        }
        secret = self._settings.client_secret
        auth: dict[str, Any] = (
            {"auth": httpx.BasicAuth(self._client_id, secret.get_secret_value())} if secret else {}
        )
        try:
            reply = self._http.post(self._endpoint("token_endpoint"), data=form, **auth)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"the identity provider did not answer: {exc}") from None
        if reply.status_code != 200:
            raise InvalidToken(f"the token endpoint refused the code ({reply.status_code})")
        id_token = str(reply.json().get("id_token") or "")
        claims = self._validator.claims(id_token)
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise InvalidToken("the ID token's nonce does not match this login")
        return self._authenticator.authenticate(id_token)

    def _endpoint(self, name: str) -> str:
        if not self._endpoints:
            self._endpoints = self._discover()
        return self._endpoints[name]

    def _discover(self) -> dict[str, str]:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document: dict[str, Any] = self._http.get(url).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DependencyUnavailable(f"the identity provider's discovery failed: {exc}") from None
        if document.get("issuer") != self._issuer:
            raise DependencyUnavailable("the identity provider's discovery document names another issuer")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint"):
            try:
                endpoint = identity_url(str(document.get(name) or ""), name)
            except ValueError as exc:
                raise DependencyUnavailable(str(exc)) from None
            if endpoint is None:
                raise DependencyUnavailable(f"the discovery document has no {name}")
            endpoints[name] = endpoint
        return endpoints
