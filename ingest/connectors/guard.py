"""The crawler's defence against server-side request forgery (SSRF).

Every request the crawler makes goes through `GuardedTransport`, redirect hops and robots.txt
included. It resolves the host once, refuses the request when any resolved address is
loopback, link-local, unspecified, multicast, reserved or a cloud metadata endpoint, and then
connects to the vetted address itself (the URL's host is replaced by the address; the `Host`
header and the TLS server name keep the original name, so certificates are still checked
against it). A second DNS answer therefore cannot move the connection elsewhere (DNS
rebinding). Private ranges (RFC 1918, IPv6 unique-local) are allowed: this is an intranet crawler.

Hosts named in `trusted_hosts` (exact names, compared case-insensitively) may resolve to
loopback or link-local addresses, for a wiki on the crawler's own machine; cloud metadata
names and addresses are refused even then. IPv4 addresses embedded in IPv6 (`::ffff:a.b.c.d`,
NAT64 `64:ff9b::a.b.c.d`) are judged as the IPv4 address they carry. Numeric host spellings
(`2130706433`, `0x7f000001`, `127.1`) are judged by what they resolve to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Refused(Exception):
    """A request the crawler will not make, with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_problem(address: IPAddress) -> str | None:
    """The kind of address (`loopback`, `cloud metadata`…) that makes `address` refused, or None."""
    ip = _embedded_ipv4(address)
    checks = (
        (ip in METADATA_ADDRESSES or address in METADATA_ADDRESSES, "cloud metadata"),
        (ip.is_unspecified or ip in _THIS_NETWORK, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local), "reserved"),
    )
    return next((kind for failed, kind in checks if failed), None)


def _host_key(host: str) -> str:
    return host.rstrip(".").lower()


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AddressGuard:
    """Decides which address, if any, a URL may be fetched from."""

    def __init__(self, trusted_hosts: Iterable[str] = (), resolver: Resolver = resolve) -> None:
        self._trusted = frozenset(_host_key(h) for h in trusted_hosts)
        self._resolve = resolver

    def vet(self, url: httpx.URL) -> str:
        """The address to connect to for `url`; raises `Refused` with the reason otherwise."""
        if url.scheme not in _DEFAULT_PORTS:
            raise Refused(f"scheme {url.scheme!r} is not http(s)")
        host = _host_key(url.host)
        if not host:
            raise Refused("the URL has no host")
        if host in METADATA_HOSTS:
            raise Refused(f"{host} is a cloud metadata host")
        addresses = [
            ipaddress.ip_address(a) for a in self._resolve(host, url.port or _DEFAULT_PORTS[url.scheme])
        ]
        if not addresses:
            raise httpx.ConnectError(f"{host} resolves to no address")
        trusted = host in self._trusted
        if any(isinstance(a, ipaddress.IPv6Address) and a.scope_id for a in addresses):
            raise Refused(f"{host} resolves to an address with a zone index")
        for address in addresses:
            kind = address_problem(address)
            if kind and (not trusted or kind == "cloud metadata"):
                what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
                if _is_literal(host):
                    raise Refused(f"{host} is {what}")
                raise Refused(f"{host} resolves to {address}, {what}")
        return str(addresses[0])


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that vets every request's host and connects to the vetted address."""

    def __init__(self, guard: AddressGuard, inner: httpx.BaseTransport | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` to the address the guard vetted, keeping its `Host` and TLS name."""
        address = self._guard.vet(request.url)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        """Close the wrapped transport's connections."""
        self._inner.close()
