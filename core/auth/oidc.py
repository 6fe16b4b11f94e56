"""OIDC access tokens as bearer credentials.

A token is accepted only when its header names an allowed asymmetric algorithm, its `kid` names a
key of the configured issuer's JWKS that fits that algorithm, its signature verifies with that
key, and its `exp`, `nbf`, `iat`, `iss` and `aud` claims hold. Every rejection raises
`InvalidToken`, whose public message is the same whatever the reason, so a caller cannot tell an
expired token from a forged one. The holder is provisioned just in time: created on first use,
their groups replaced by the token's groups whenever they differ.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
import structlog
from sqlalchemy.exc import IntegrityError

from core.acl import Principal, valid_name
from core.errors import Conflict, DependencyUnavailable, Unauthenticated
from core.settings import SAFE_JWT_ALGORITHMS, OidcSettings, identity_url

log = structlog.get_logger(__name__)

REJECTION_MESSAGE = "invalid or expired token"
MAX_TOKEN_CHARS = 16_384
MAX_DOCUMENT_BYTES = 1_000_000  # discovery document or key set
RESERVED_USERNAMES = frozenset({"admin"})  # the bootstrap admin is never an OIDC identity
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

JwksFetcher = Callable[[], Mapping[str, Any]]


class InvalidToken(Unauthenticated):
    """A bearer token that is not a valid access token of the issuer; `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(REJECTION_MESSAGE)
        self.reason = reason


class HttpJwks:
    """Fetches the issuer's key set over HTTP, discovering its URL when none is configured."""

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None = None,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def __call__(self) -> Mapping[str, Any]:
        """The current JWKS document; DependencyUnavailable when the issuer cannot be read."""
        return self._get_json(self._jwks_url or self._discover())

    def _discover(self) -> str:
        document = self._get_json(self._issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != self._issuer:
            raise DependencyUnavailable("the identity provider's discovery document names another issuer")
        try:
            url = identity_url(str(document.get("jwks_uri") or ""), "jwks_uri")
        except ValueError as exc:
            raise DependencyUnavailable(f"unusable jwks_uri in the discovery document: {exc}") from None
        if url is None:
            raise DependencyUnavailable("the identity provider's discovery document has no jwks_uri")
        self._jwks_url = url
        return url

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                response.raise_for_status()
                body = bytearray()
                for part in response.iter_bytes():
                    body += part
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise DependencyUnavailable(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
            document = json.loads(body)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"the identity provider did not answer: {exc}") from None
        except ValueError:
            raise DependencyUnavailable(f"{url} did not return JSON") from None
        if not isinstance(document, dict):
            raise DependencyUnavailable(f"{url} did not return a JSON object")
        return document

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()


class JwksCache:
    """The issuer's signing keys, refetched when stale and, on an unknown `kid`, at most every
    `min_refresh_s` seconds (so forged kids cannot make us hammer the issuer)."""

    def __init__(
        self,
        fetch: JwksFetcher,
        max_age_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age_s
        self._min_refresh = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def candidates(self, kid: str | None) -> list[dict[str, Any]]:
        """The signing keys a token with this `kid` may have been signed with (none: InvalidToken)."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._max_age:
                self._refresh(now, required=self._fetched_at is None)
            found = self._find(kid)
            if not found and self._may_attempt(now):
                self._refresh(now, required=False)
                found = self._find(kid)
        if not found:
            raise InvalidToken(f"no signing key with kid {kid!r}")
        return found

    def _may_attempt(self, now: float) -> bool:
        # Without any keys yet, retry sooner: nothing can be accepted until a fetch succeeds.
        interval = self._min_refresh if self._keys else min(self._min_refresh, 2.0)
        return self._attempted_at is None or now - self._attempted_at >= interval

    def _refresh(self, now: float, required: bool) -> None:
        if not self._may_attempt(now):
            if required:
                raise DependencyUnavailable("the identity provider's signing keys are not available yet")
            return
        self._attempted_at = now
        try:
            document = self._fetch()
        except DependencyUnavailable:
            if required or not self._keys:
                raise
            log.warning("jwks_refresh_failed", kept_keys=len(self._keys))
            return
        raw = document.get("keys")
        keys = [k for k in raw if isinstance(k, dict)] if isinstance(raw, list) else []
        self._keys = [k for k in keys if isinstance(k.get("kty"), str) and k.get("use", "sig") == "sig"]
        self._fetched_at = now
        log.info("jwks_refreshed", keys=len(self._keys))

    def _find(self, kid: str | None) -> list[dict[str, Any]]:
        if kid is None:  # only unambiguous without a kid
            return list(self._keys) if len(self._keys) == 1 else []
        return [k for k in self._keys if k.get("kid") == kid]


class TokenValidator:
    """Checks signature, algorithm and claims of one issuer's access tokens."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        keys: JwksCache,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway_s: float = 30.0,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = keys
        self._algorithms = frozenset(algorithms) & SAFE_JWT_ALGORITHMS
        self._leeway = leeway_s

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; InvalidToken for anything short of valid."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise InvalidToken("not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"unreadable header: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken(f"algorithm {alg!r} is not allowed")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid is not a string")
        key = self._key(kid, alg)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None

    def _key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The key of `kid` bound to `alg`; a key of another type or algorithm never verifies."""
        for jwk in self._keys.candidates(kid):
            if jwk.get("alg", alg) != alg or jwk.get("kty") != _KEY_TYPES.get(alg[:2]):
                continue
            try:
                return jwt.PyJWK(jwk, algorithm=alg)
            except jwt.PyJWTError:
                continue
        raise InvalidToken(f"no key with kid {kid!r} fits {alg}")


@dataclass(frozen=True)
class OidcIdentity:
    """Who a verified token names, in Sillok's vocabulary; `subject` is the issuer and `sub`."""

    username: str
    subject: str
    email: str | None
    groups: frozenset[str]


def _claim(claims: Mapping[str, Any], path: str) -> object:
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims name the user and their groups.

    Groups come from a list of strings (a single string counts as one group). With a prefix,
    only groups starting with it are kept, without the prefix. A leading `/` (group paths) is
    dropped; names Sillok cannot use are ignored.
    """

    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    groups_prefix: str = ""

    def identity(self, claims: Mapping[str, Any]) -> OidcIdentity:
        """The identity in `claims`; InvalidToken without a subject or a usable username."""
        issuer, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(issuer, str) or not isinstance(sub, str) or not issuer or not sub:
            raise InvalidToken("no issuer or subject")
        username = _claim(claims, self.username_claim)
        if not isinstance(username, str) or not username:
            username = claims.get("sub")
        if not isinstance(username, str) or not valid_name(username) or username in RESERVED_USERNAMES:
            raise InvalidToken(f"unusable username {username!r}")
        email = claims.get("email")
        email = email if isinstance(email, str) else None
        return OidcIdentity(username, f"{issuer} {sub}", email, self._groups(claims))

    def _groups(self, claims: Mapping[str, Any]) -> frozenset[str]:
        raw = _claim(claims, self.groups_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        groups = set()
        for value in values:
            if not isinstance(value, str):
                continue
            name = value.removeprefix("/")
            if self.groups_prefix:
                if not name.startswith(self.groups_prefix):
                    continue
                name = name[len(self.groups_prefix) :]
            if valid_name(name):
                groups.add(name)
        return frozenset(groups)


class UserProvisioner(Protocol):
    """The part of the user directory that just-in-time provisioning needs."""

    def provision_oidc(
        self, username: str, subject: str, email: str | None, groups: Iterable[str]
    ) -> Principal:
        """Create or update the user bound to `subject` (groups replaced); Conflict if the name
        belongs to another account."""
        ...

    def oidc_principal(self, username: str, subject: str) -> Principal | None:
        """The principal of `username` if it is bound to `subject`, else None."""
        ...


class OidcAuthenticator:
    """Turns a valid access token into a principal, provisioning its user just in time."""

    def __init__(self, validator: TokenValidator, mapping: ClaimMapping, users: UserProvisioner) -> None:
        self._validator = validator
        self._mapping = mapping
        self._users = users
        self._emails: dict[str, str | None] = {}  # last email this process wrote per user

    def authenticate(self, token: str) -> Principal:
        """The principal of the token's holder, with the token's groups; InvalidToken otherwise."""
        identity = self._mapping.identity(self._validator.claims(token))
        return self._provision(identity)

    def _provision(self, identity: OidcIdentity) -> Principal:
        current = self._users.oidc_principal(identity.username, identity.subject)
        unchanged = self._emails.get(identity.username, "") == identity.email
        if current is not None and current.groups == identity.groups and unchanged:
            return current  # nothing to write: the common case, one read per request
        try:
            try:
                principal = self._write(identity)
            except IntegrityError:  # a concurrent first sign-in created the user or a group
                principal = self._write(identity)
        except Conflict as exc:
            log.warning("oidc_account_conflict", username=identity.username, reason=str(exc))
            raise InvalidToken(str(exc)) from None
        self._emails[identity.username] = identity.email
        if current is None:
            log.info("oidc_user_bound", username=identity.username, groups=sorted(identity.groups))
        return principal

    def _write(self, who: OidcIdentity) -> Principal:
        return self._users.provision_oidc(who.username, who.subject, who.email, who.groups)


def make_oidc(settings: OidcSettings, users: UserProvisioner) -> OidcAuthenticator | None:
    """The authenticator for the configured issuer, or None when OIDC is off."""
    if not settings.issuer or not settings.audience:
        return None
    fetch = HttpJwks(settings.issuer, settings.jwks_url, settings.timeout_s)
    keys = JwksCache(fetch, settings.jwks_cache_s, settings.jwks_min_refresh_s)
    validator = TokenValidator(
        settings.issuer, settings.audience, keys, settings.algorithms, settings.leeway_s
    )
    mapping = ClaimMapping(settings.username_claim, settings.groups_claim, settings.groups_prefix)
    return OidcAuthenticator(validator, mapping, users)
