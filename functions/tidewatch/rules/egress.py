"""Where outbound webhooks may go: one policy, applied when a rule is written and at every delivery.

A webhook URL is parsed the way browsers and pydantic parse it (WHATWG: decimal, octal, hex and
shortened IPv4 forms become dotted quads), its host is resolved once, and EVERY resolved address
must be public: not private, loopback, link-local (incl. the cloud metadata service
169.254.169.254 and fd00:ec2::254), CGNAT (100.64.0.0/10), multicast, reserved or unspecified.
IPv6 forms that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4
2002::/16, Teredo 2001::/32) are judged by the address they embed; the local-use NAT64 prefix
64:ff9b:1::/48 and IPv4-compatible ::a.b.c.d are refused outright.

The sender then connects to one of the checked addresses itself (`pinned_post`): no second DNS
lookup happens between check and connect (no rebinding window). The Host header and, for https,
the TLS SNI and certificate check keep the URL's host name. Redirects are never followed: a 3xx
answer is a failed delivery, so a signed request cannot be bounced to an internal address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import HttpUrl, TypeAdapter, ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses a name resolves to (raises OSError when it does not resolve)
Resolver = Callable[[str, int], Sequence[str]]

_URL = TypeAdapter(HttpUrl)
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class BlockedTarget(ValueError):
    """The URL must not be called; the message says why (shown to the rule's owner)."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo server and client)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def address_problem(address: IPAddress, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why a webhook must not connect to `address`, or None when it may."""
    if address in _METADATA:
        return "the cloud metadata service"
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if address in _IPV4_COMPATIBLE and int(address) > 1:
            return "an IPv4-compatible IPv6 address"
        for embedded in _embedded_ipv4(address):
            problem = address_problem(embedded, allow_loopback=allow_loopback, allow_private=allow_private)
            if problem:
                return f"{problem} ({embedded}, embedded in {address})"
            if address.ipv4_mapped is not None:
                return None  # the socket layer connects to the IPv4 address itself
    if address.is_loopback:
        return None if allow_loopback or allow_private else "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return None if allow_private else "a carrier-grade NAT address"
    if address.is_private:
        return None if allow_private else "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the checked addresses, in order) and what to say there."""

    url: str
    scheme: str
    host: str  # the name (or literal) of the URL, for Host and TLS SNI
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class EgressPolicy:
    """The one SSRF policy. Production refuses loopback and private targets; `allow_loopback` is
    for tests with a local HTTP server, `allow_private` for the local run (never for the cloud
    metadata service)."""

    allow_loopback: bool = False
    allow_private: bool = False
    resolve: Resolver = field(default=system_resolver, compare=False)

    def check(self, url: str) -> Target:
        """The checked target of `url`; raises BlockedTarget (not public) or OSError (no DNS answer)."""
        try:
            parsed = _URL.validate_python(url)
        except ValidationError as exc:
            raise BlockedTarget("not an http(s) URL") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise BlockedTarget("not an http(s) URL")
        host = parsed.host.strip("[]")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        path = parsed.path or "/"
        if parsed.query:
            path += f"?{parsed.query}"
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        answers = [host] if literal is not None else list(self.resolve(host.rstrip("."), port))
        if not answers:
            raise OSError(f"{host} has no address")
        checked: list[str] = []
        for answer in answers:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            problem = address_problem(address, allow_loopback=self.allow_loopback, allow_private=self.allow_private)
            if problem:
                shown = host if literal is not None else f"{host} resolves to {address}, which is"
                raise BlockedTarget(f"{shown} {problem}" if literal is None else f"{shown} is {problem}")
            checked.append(str(address))
        return Target(str(parsed), parsed.scheme, host, port, path, tuple(checked))

    def refusal(self, url: str) -> str | None:
        """Why `url` is refused (policy or DNS), or None: the check made when a rule is written."""
        try:
            self.check(url)
        except BlockedTarget as exc:
            return str(exc)
        except OSError as exc:
            return f"host does not resolve ({exc})"
        return None


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    location: str | None = None
    body: bytes = b""  # the first 64 KiB of the answer
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a fixed address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


# target, body, headers, timeout -> the answer (raises OSError when no address can be reached)
HttpPost = Callable[[Target, bytes, Mapping[str, str], float], HttpAnswer]


def pinned_post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    *,
    tls: ssl.SSLContext | None = None,
) -> HttpAnswer:
    """POST to the checked addresses in turn (first that connects), never re-resolving the name.
    `tls` defaults to the system trust store with hostname checks."""
    error: OSError | None = None
    for address in target.addresses:
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            context = tls if tls is not None else ssl.create_default_context()
            conn = _PinnedHTTPSConnection(target.host, address, target.port, timeout, context)
        else:
            conn = http.client.HTTPConnection(address, target.port, timeout=timeout)
        try:
            conn.request("POST", target.path, body=body, headers={**headers, "Host": target.host_header})
            response = conn.getresponse()
            body = response.read(65_536)
            headers = {name.lower(): value for name, value in response.getheaders()}
            return HttpAnswer(int(response.status), response.getheader("Location"), body, headers)
        except OSError as exc:  # refused, unreachable, timed out, TLS: try the next checked address
            error = exc
        except http.client.HTTPException as exc:  # not an HTTP answer: like a broken connection
            error = OSError(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
    raise error or OSError("no address to connect to")
