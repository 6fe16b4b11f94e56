"""The crawler's SSRF guard: which addresses are refused, trust by name, and pinned connections."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from ingest.connectors.guard import AddressGuard, GuardedTransport, Refused, address_problem

pytestmark = pytest.mark.unit


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        return [str(ipaddress.ip_address(host))]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.8.9.10:8080/admin", "127.8.9.10 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://169.254.10.1/", "169.254.10.1 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is an unspecified address"),
        ("http://0.1.2.3/", "0.1.2.3 is an unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is a cloud metadata address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe is a cloud metadata address"),
    ],
)
def test_dangerous_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        AddressGuard().vet(httpx.URL(url))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://017700000001/"]
)
def test_numeric_spellings_are_judged_by_the_address_they_reach(url: str) -> None:
    with pytest.raises(Refused, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        AddressGuard().vet(httpx.URL(url))


@pytest.mark.parametrize(
    "url",
    [
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://metadata.goog/",
    ],
)
def test_metadata_host_names_are_refused_before_any_lookup(url: str) -> None:
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("resolved " + host)

    with pytest.raises(Refused, match="cloud metadata host"):
        AddressGuard(resolver=no_lookup).vet(httpx.URL(url))


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/", "http://172.16.4.2:8080/wiki", "https://192.168.1.20/", "http://[fd12:3456::1]/"],
)
def test_private_intranet_addresses_are_allowed(url: str) -> None:
    assert AddressGuard().vet(httpx.URL(url)) == httpx.URL(url).host


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    guard = AddressGuard(resolver=fake_dns({"wiki.corp": ["10.0.0.5", "127.0.0.1"]}))
    with pytest.raises(Refused, match=r"wiki.corp resolves to 127\.0\.0\.1, a loopback address"):
        guard.vet(httpx.URL("http://wiki.corp/"))


def test_trusted_hosts_may_be_local_but_never_metadata() -> None:
    guard = AddressGuard(
        ["127.0.0.1", "Wiki.Local", "169.254.169.254"],
        resolver=fake_dns({"wiki.local": ["::1"], "localhost": ["127.0.0.1"]}),
    )
    assert guard.vet(httpx.URL("http://127.0.0.1:8000/")) == "127.0.0.1"
    assert guard.vet(httpx.URL("http://wiki.local/")) == "::1"
    with pytest.raises(Refused, match="loopback"):  # trust is by name, not by address
        guard.vet(httpx.URL("http://localhost/"))
    with pytest.raises(Refused, match="cloud metadata"):
        guard.vet(httpx.URL("http://169.254.169.254/"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://10.0.0.5/x", "gopher://10.0.0.5/"])
def test_only_http_is_allowed(url: str) -> None:
    with pytest.raises(Refused, match="is not http"):
        AddressGuard().vet(httpx.URL(url))


def test_address_kinds() -> None:
    assert address_problem(ipaddress.ip_address("10.1.2.3")) is None
    assert address_problem(ipaddress.ip_address("8.8.8.8")) is None
    assert address_problem(ipaddress.ip_address("100.100.100.200")) == "cloud metadata"
    assert address_problem(ipaddress.ip_address("ff02::1")) == "multicast"


def test_connections_go_to_the_vetted_address_under_the_original_name() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    dns = fake_dns({"wiki.corp": ["10.1.2.3"]})
    transport = GuardedTransport(AddressGuard(resolver=dns), httpx.MockTransport(server))
    with httpx.Client(transport=transport) as client:
        response = client.get("https://wiki.corp/page?x=1")
    assert response.text == "ok" and response.url == "https://wiki.corp/page?x=1"
    [sent] = seen
    assert sent.url == "https://10.1.2.3/page?x=1"
    assert sent.headers["host"] == "wiki.corp"
    assert sent.extensions["sni_hostname"] == "wiki.corp"


def test_every_redirect_hop_is_vetted() -> None:
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data/"})

    dns = fake_dns({"wiki.corp": ["10.1.2.3"]})
    transport = GuardedTransport(AddressGuard(resolver=dns), httpx.MockTransport(server))
    with httpx.Client(transport=transport, follow_redirects=True) as client, pytest.raises(Refused):
        client.get("http://wiki.corp/")
    assert seen == ["http://10.1.2.3/"]


def test_a_rebinding_name_cannot_move_a_vetted_connection() -> None:
    answers = iter([["10.1.2.3"], ["127.0.0.1"]])
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(200)

    guard = AddressGuard(resolver=lambda host, port: next(answers))
    with httpx.Client(transport=GuardedTransport(guard, httpx.MockTransport(server))) as client:
        client.get("http://rebind.example/")
        with pytest.raises(Refused):
            client.get("http://rebind.example/")
    assert seen == ["10.1.2.3"]
