"""OIDC access tokens: only a valid token of the configured issuer, signed by one of its keys with an
allowed asymmetric algorithm, becomes a principal; every other token is rejected the same way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError

from core.acl import Principal
from core.auth.oidc import (
    REJECTION_MESSAGE,
    ClaimMapping,
    HttpJwks,
    InvalidToken,
    JwksCache,
    OidcAuthenticator,
    TokenValidator,
    make_oidc,
)
from core.auth.passwords import PasswordStore
from core.db.engine import make_engine, migrate, session_factory
from core.errors import DependencyUnavailable, NotFound
from core.settings import OidcSettings
from core.users import UserDirectory

pytestmark = pytest.mark.unit
ISSUER = "https://idp.example.com/realms/acme"
AUDIENCE = "sillok"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private_key: Any, kid: str) -> dict[str, Any]:
    public = private_key.public_key()
    algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
    data: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, "use": "sig"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "3f2a9c1e-user",
        "preferred_username": "hana",
        "email": "hana@example.com",
        "groups": ["hr", "eng"],
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1") -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Fetcher:
    """A JWKS endpoint stand-in that counts its calls."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.down = False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.down:
            raise DependencyUnavailable("the identity provider did not answer")
        return {"keys": self.keys}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def validator(fetcher: Fetcher, clock: Clock | None = None, algorithms: Iterable[str] = ("RS256", "ES256")):  # type: ignore[no-untyped-def]
    cache = JwksCache(fetcher, max_age_s=3600, min_refresh_s=30, clock=clock or Clock())
    return TokenValidator(ISSUER, AUDIENCE, cache, algorithms, leeway_s=30)


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher(jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1"))


def rejected(check: TokenValidator, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        check.claims(token)
    error = caught.value
    assert error.message == REJECTION_MESSAGE and error.code == "unauthenticated" and error.status == 401
    return error


def test_valid_rs256_and_es256_tokens(fetcher: Fetcher) -> None:
    check = validator(fetcher)
    assert check.claims(sign(claims()))["preferred_username"] == "hana"
    assert check.claims(sign(claims(), EC_KEY, "ES256", "ec-1"))["groups"] == ["hr", "eng"]
    assert fetcher.calls == 1  # the key set is cached


def test_expired_and_not_yet_valid_tokens(fetcher: Fetcher) -> None:
    check = validator(fetcher)
    now = int(time.time())
    assert "Expired" in rejected(check, sign(claims(iat=now - 900, exp=now - 120))).reason
    assert "Immature" in rejected(check, sign(claims(nbf=now + 600))).reason
    # Within the leeway, clock skew is tolerated.
    assert check.claims(sign(claims(exp=now - 5, nbf=now + 5)))


def test_wrong_audience_or_issuer(fetcher: Fetcher) -> None:
    check = validator(fetcher)
    assert "Audience" in rejected(check, sign(claims(aud="another-app"))).reason
    assert "Issuer" in rejected(check, sign(claims(iss="https://evil.example.com/realms/acme"))).reason
    assert "aud" in rejected(check, sign(claims(aud=None))).reason
    assert "exp" in rejected(check, sign(claims(exp=None))).reason


def test_alg_none_is_rejected(fetcher: Fetcher) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    check = validator(fetcher)
    for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64(b'x')}"):
        assert "not allowed" in rejected(check, token).reason
    assert fetcher.calls == 0  # refused before any key is looked up


def test_hs256_signed_with_the_public_key_is_rejected(fetcher: Fetcher) -> None:
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    token = f"{header}.{payload}.{signature}"
    assert "not allowed" in rejected(validator(fetcher), token).reason
    # Even a validator misconfigured to list HS256 never uses it: only asymmetric algorithms remain.
    assert "not allowed" in rejected(validator(fetcher, algorithms=["HS256", "RS256"]), token).reason


def test_key_of_another_type_never_verifies(fetcher: Fetcher) -> None:
    check = validator(fetcher)
    # An ES256 token claiming the RSA key's kid, and an RS256 token claiming the EC key's kid.
    assert "fits" in rejected(check, sign(claims(), EC_KEY, "ES256", "rsa-1")).reason
    assert "fits" in rejected(check, sign(claims(), RSA_KEY, "RS256", "ec-1")).reason
    # A key whose JWK names another algorithm is not used for this one.
    fetcher.keys = [{**jwk(RSA_KEY, "rsa-1"), "alg": "RS512"}]
    assert "fits" in rejected(validator(fetcher), sign(claims())).reason


def test_tampered_payload_and_signature(fetcher: Fetcher) -> None:
    check = validator(fetcher)
    header, _payload, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(groups=["hr", "eng", "executives"])).encode())
    assert "Signature" in rejected(check, f"{header}.{forged}.{signature}").reason
    other = sign(claims(), RSA_KEY_2, "RS256", "rsa-1")  # right kid, wrong private key
    assert "Signature" in rejected(check, other).reason
    rejected(check, "not-a-token")
    rejected(check, "a.b.c")
    rejected(check, sign(claims()) + "." + "x")


def test_unknown_kid_refreshes_once_then_rotation_is_picked_up(fetcher: Fetcher) -> None:
    clock = Clock()
    check = validator(fetcher, clock)
    assert check.claims(sign(claims()))
    new_token = sign(claims(), RSA_KEY_2, "RS256", "rsa-2")
    # The issuer rotates: the new key is published, the old one withdrawn.
    fetcher.keys = [jwk(RSA_KEY_2, "rsa-2")]
    assert "kid" in rejected(check, new_token).reason  # just fetched: no refetch yet
    for _ in range(20):  # forged kids cannot make us hammer the issuer
        rejected(check, sign(claims(), RSA_KEY_2, "RS256", "forged"))
    assert fetcher.calls == 1
    clock.now += 31
    assert check.claims(new_token)["preferred_username"] == "hana"
    assert fetcher.calls == 2
    assert "kid" in rejected(check, sign(claims())).reason  # the withdrawn key no longer verifies


def test_stale_keys_are_refetched_and_kept_when_the_issuer_is_down(fetcher: Fetcher) -> None:
    clock = Clock()
    check = validator(fetcher, clock)
    assert check.claims(sign(claims()))
    clock.now += 3601
    fetcher.down = True
    assert check.claims(sign(claims()))  # old keys still serve
    assert fetcher.calls == 2


def test_no_keys_at_all_is_a_dependency_failure() -> None:
    fetcher = Fetcher()
    fetcher.down = True
    with pytest.raises(DependencyUnavailable):
        validator(fetcher).claims(sign(claims()))


def test_token_without_kid_uses_the_only_key() -> None:
    assert validator(Fetcher(jwk(RSA_KEY, "rsa-1"))).claims(sign(claims(), kid=None))
    rejected(validator(Fetcher(jwk(RSA_KEY, "a"), jwk(RSA_KEY_2, "b"))), sign(claims(), kid=None))


class Directory(UserDirectory):
    """The real user directory on SQLite, counting provisioning writes."""

    def __init__(self, path: Path) -> None:
        engine = make_engine(f"sqlite:///{path / 'sillok.db'}")
        migrate(engine)
        super().__init__(session_factory(engine))
        self.sessions = session_factory(engine)
        self.writes = 0

    def provision_oidc(
        self, username: str, subject: str, email: str | None, groups: Iterable[str]
    ) -> Principal:
        self.writes += 1
        return super().provision_oidc(username, subject, email, groups)


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(tmp_path)


def authenticator(
    fetcher: Fetcher, directory: Directory, mapping: ClaimMapping | None = None
) -> OidcAuthenticator:
    return OidcAuthenticator(validator(fetcher), mapping or ClaimMapping(), directory)


def test_first_login_creates_the_user_and_groups_follow_the_token(
    fetcher: Fetcher, directory: Directory
) -> None:
    auth = authenticator(fetcher, directory)
    hana = auth.authenticate(sign(claims()))
    assert hana.user_id and hana == Principal("hana", frozenset({"hr", "eng"}), user_id=hana.user_id)
    assert directory.writes == 1
    auth.authenticate(sign(claims()))
    assert directory.writes == 1  # unchanged: nothing written
    assert auth.authenticate(sign(claims(groups=["eng"]))).groups == {"eng"}
    assert directory.principal("hana").groups == {"eng"}


def test_missing_groups_claim_gives_no_groups(fetcher: Fetcher, directory: Directory) -> None:
    auth = authenticator(fetcher, directory)
    hana = auth.authenticate(sign(claims(groups=None)))
    assert hana == Principal("hana", frozenset(), user_id=hana.user_id)


def test_an_account_is_bound_to_the_issuer_subject(fetcher: Fetcher, directory: Directory) -> None:
    auth = authenticator(fetcher, directory)
    auth.authenticate(sign(claims()))
    # Another person at the identity provider who now carries the name "hana" is not hana here,
    # even in a fresh process that has not seen hana before.
    for fresh in (auth, authenticator(fetcher, directory)):
        with pytest.raises(InvalidToken) as raised:
            fresh.authenticate(sign(claims(sub="someone-else")))
        assert str(raised.value) == REJECTION_MESSAGE
    # The bound subject under a new name is refused too: renaming is an administrator's act.
    with pytest.raises(InvalidToken):
        auth.authenticate(sign(claims(preferred_username="hana.kim")))
    with pytest.raises(NotFound):
        directory.principal("hana.kim")
    assert directory.principal("hana").groups == {"hr", "eng"}


def test_local_accounts_are_never_taken_over(fetcher: Fetcher, directory: Directory) -> None:
    directory.add_user("minsu", groups=["finance"])
    PasswordStore(directory.sessions).set_password("minsu", "a long local passphrase")
    with pytest.raises(InvalidToken):
        authenticator(fetcher, directory).authenticate(sign(claims(preferred_username="minsu")))
    assert directory.principal("minsu").groups == {"finance"}


def test_a_replaced_account_is_not_reached_through_an_earlier_binding(
    fetcher: Fetcher, directory: Directory
) -> None:
    auth = authenticator(fetcher, directory)
    auth.authenticate(sign(claims()))
    directory.remove_user("hana")  # an administrator replaces hana by a local account
    directory.add_user("hana", groups=["hr", "eng"])
    PasswordStore(directory.sessions).set_password("hana", "a long local passphrase")
    with pytest.raises(InvalidToken):
        auth.authenticate(sign(claims()))


def test_a_user_created_ahead_of_the_first_sign_in_is_bound_then(
    fetcher: Fetcher, directory: Directory
) -> None:
    directory.add_user("hana", groups=["pending"])
    auth = authenticator(fetcher, directory)
    assert auth.authenticate(sign(claims())).groups == {"hr", "eng"}
    with pytest.raises(InvalidToken):
        auth.authenticate(sign(claims(sub="someone-else")))


def test_claim_mapping() -> None:
    mapping = ClaimMapping("upn", "realm_access.roles", "sillok-")
    identity = mapping.identity(
        {
            "iss": ISSUER,
            "sub": "u-1",
            "upn": "minsu@example.com",
            "realm_access": {"roles": ["sillok-hr", "/sillok-eng", "offline_access", "sillok-bad name", 7]},
        }
    )
    assert identity.username == "minsu@example.com" and identity.groups == {"hr", "eng"}
    assert identity.subject == f"{ISSUER} u-1"
    solo = ClaimMapping().identity({"iss": ISSUER, "sub": "u-2", "groups": "solo"})
    assert solo.username == "u-2" and solo.groups == {"solo"}  # the username falls back to sub
    for bad in (
        {"iss": ISSUER, "sub": "u-3", "preferred_username": "admin"},
        {"iss": ISSUER, "sub": "u-3", "preferred_username": "a b"},
        {"iss": ISSUER, "preferred_username": "hana"},  # no subject to bind
        {},
    ):
        with pytest.raises(InvalidToken):
            ClaimMapping().identity(bad)


def test_admin_is_never_an_oidc_identity(fetcher: Fetcher, directory: Directory) -> None:
    auth = authenticator(fetcher, directory)
    with pytest.raises(InvalidToken):
        auth.authenticate(sign(claims(preferred_username="admin")))
    assert directory.writes == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuer": "http://idp.example.com", "audience": "x"},  # plain http off the loopback
        {"issuer": "ftp://idp", "audience": "x"},
        {"issuer": ISSUER},  # no audience
        {"issuer": ISSUER, "audience": "x", "algorithms": ["none"]},
        {"issuer": ISSUER, "audience": "x", "algorithms": ["RS256", "HS256"]},
        {"issuer": ISSUER, "audience": "x", "algorithms": []},
        {"issuer": ISSUER, "audience": "x", "jwks_url": "http://10.0.0.1/keys"},
    ],
)
def test_unsafe_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OidcSettings(**overrides)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, directory: Directory) -> None:
    from core.settings import Settings

    monkeypatch.setenv("SILLOK_OIDC__ISSUER", "http://127.0.0.1:8080/realms/test")
    monkeypatch.setenv("SILLOK_OIDC__AUDIENCE", "sillok")
    monkeypatch.setenv("SILLOK_OIDC__ALGORITHMS", '["ES256"]')
    monkeypatch.setenv("SILLOK_OIDC__CLIENT_SECRET", "s3cret")
    settings = Settings().oidc
    assert settings.issuer == "http://127.0.0.1:8080/realms/test" and settings.algorithms == ["ES256"]
    assert settings.client_secret is not None and "s3cret" not in repr(settings)
    assert make_oidc(OidcSettings(), directory) is None


class IdentityProvider(BaseHTTPRequestHandler):
    """Discovery document and key set on the loopback."""

    documents: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = self.documents.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def idp() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IdentityProvider)
    base = f"http://127.0.0.1:{server.server_port}"
    IdentityProvider.documents = {
        "/realms/acme/.well-known/openid-configuration": {
            "issuer": f"{base}/realms/acme",
            "jwks_uri": f"{base}/realms/acme/certs",
        },
        "/realms/acme/certs": {"keys": [jwk(RSA_KEY, "rsa-1"), {"kty": "RSA", "use": "enc", "kid": "x"}]},
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def test_keys_discovered_from_the_issuer_over_http(idp: str, directory: Directory) -> None:
    issuer = f"{idp}/realms/acme"
    settings = OidcSettings(issuer=issuer, audience=AUDIENCE, timeout_s=2)
    auth = make_oidc(settings, directory)
    assert auth is not None
    principal = auth.authenticate(sign(claims(iss=issuer)))
    assert principal.username == "hana"
    # A discovery document naming another issuer is not trusted.
    IdentityProvider.documents["/realms/acme/.well-known/openid-configuration"]["issuer"] = "https://evil"
    with pytest.raises(DependencyUnavailable):
        HttpJwks(issuer, timeout_s=2)()
    with pytest.raises(DependencyUnavailable):
        HttpJwks(issuer, f"{idp}/missing", timeout_s=2)()
    assert HttpJwks(issuer, f"{idp}/realms/acme/certs", timeout_s=2)()["keys"][0]["kid"] == "rsa-1"
