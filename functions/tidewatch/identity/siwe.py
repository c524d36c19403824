"""EIP-4361 (Sign-In with Ethereum) messages: strict parsing and rule checking.

The grammar is the EIP's ABNF, line by line:

    ${scheme}://${domain} wants you to sign in with your Ethereum account:   (scheme optional)
    ${address}

    ${statement}                                                              (optional)

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}
    Issued At: ${issued-at}
    Expiration Time: ${expiration-time}                                       (optional)
    Not Before: ${not-before}                                                 (optional)
    Request ID: ${request-id}                                                 (optional)
    Resources:                                                                (optional)
    - ${resources[0]}

Signature checks live in `tidewatch.identity.signatures`; this module has no crypto imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from tidewatch.identity.errors import (
    DomainMismatch,
    MalformedSiweMessage,
    MessageExpired,
    MessageNotYetValid,
    UnsupportedChain,
    UriMismatch,
)

_HEADER = re.compile(
    r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<domain>[^\s/?#]+) wants you to sign in with your Ethereum account:$"
)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_CHAIN_ID = re.compile(r"^[1-9][0-9]{0,18}$")
# RFC 3339 date-time (the EIP's issued-at / expiration-time / not-before).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_FIELDS = ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID")
_REQUIRED = ("URI", "Version", "Chain ID", "Nonce", "Issued At")


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    scheme: str | None = None
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The canonical message text (what a wallet shows and signs)."""
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain} wants you to sign in with your Ethereum account:", self.address, ""]
        # ABNF: address LF LF [statement LF] LF — so two empty lines when there is no statement.
        lines += [self.statement, ""] if self.statement is not None else [""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_format_time(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _format_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_time(name: str, value: str) -> datetime:
    if not _RFC3339.match(value):
        raise MalformedSiweMessage(f"{name} is not an RFC 3339 date-time", field=name)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError as exc:
        raise MalformedSiweMessage(f"{name} is not a valid date-time", field=name) from exc
    return parsed


def _checksummed(address: str) -> str:
    # EIP-4361 requires the EIP-55 mixed-case form; eth_utils is light (no web3).
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; any deviation from the grammar is a `MalformedSiweMessage`."""
    lines = text.replace("\r\n", "\n").split("\n")
    if len(lines) < 8:
        raise MalformedSiweMessage("message is too short to be EIP-4361")
    header = _HEADER.match(lines[0])
    if not header:
        raise MalformedSiweMessage("first line must be '<domain> wants you to sign in with your Ethereum account:'")
    address = lines[1]
    if not _ADDRESS.match(address):
        raise MalformedSiweMessage("second line must be a 0x-prefixed 20-byte address", field="address")
    if address != _checksummed(address):
        raise MalformedSiweMessage("address must be EIP-55 checksummed", field="address")
    if lines[2] != "":
        raise MalformedSiweMessage("an empty line must follow the address")
    index = 3
    statement: str | None = None
    if lines[index].startswith("URI: "):
        pass  # some wallets' libraries omit the second empty line when there is no statement
    elif lines[index] != "":
        statement = lines[index]
        if lines[index + 1] != "":
            raise MalformedSiweMessage("the statement must be one line followed by an empty line", field="statement")
        index += 2
    else:
        index += 1

    values: dict[str, str] = {}
    expected = list(_FIELDS)
    resources: list[str] = []
    rest = lines[index:]
    position = 0
    while position < len(rest):
        line = rest[position]
        if line == "Resources:":
            resources = [r[2:] for r in rest[position + 1 :]]
            if not all(r.startswith("- ") for r in rest[position + 1 :]) or not resources:
                raise MalformedSiweMessage("resources must be '- <uri>' lines", field="resources")
            break
        name, sep, value = line.partition(": ")
        if not sep or name not in expected:
            raise MalformedSiweMessage(f"unexpected line {line[:60]!r} (fields must appear in EIP-4361 order)")
        # Fields are ordered: drop everything up to and including this one.
        expected = expected[expected.index(name) + 1 :]
        values[name] = value
        position += 1
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        raise MalformedSiweMessage(f"missing field(s): {', '.join(missing)}", field=missing[0])
    if values["Version"] != "1":
        raise MalformedSiweMessage("Version must be 1", field="version")
    if not _CHAIN_ID.match(values["Chain ID"]):
        raise MalformedSiweMessage("Chain ID must be a positive integer", field="chainId")
    if not _NONCE.match(values["Nonce"]):
        raise MalformedSiweMessage("Nonce must be at least 8 alphanumeric characters", field="nonce")
    uri = values["URI"]
    if not urlsplit(uri).scheme:
        raise MalformedSiweMessage("URI must be an absolute RFC 3986 URI", field="uri")
    return SiweMessage(
        scheme=header.group("scheme"),
        domain=header.group("domain"),
        address=address,
        statement=statement,
        uri=uri,
        version="1",
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=_parse_time("issuedAt", values["Issued At"]),
        expiration_time=_parse_time("expirationTime", values["Expiration Time"])
        if "Expiration Time" in values
        else None,
        not_before=_parse_time("notBefore", values["Not Before"]) if "Not Before" in values else None,
        request_id=values.get("Request ID"),
        resources=tuple(resources),
    )


@dataclass(frozen=True)
class SiteRules:
    """What a message must say to sign in to this deployment."""

    domain: str
    uri: str
    chain_ids: frozenset[int]
    clock_skew: timedelta
    max_age: timedelta  # a message issued longer ago than this is refused even without expiration


def _uri_belongs_to_site(uri: str, site_uri: str) -> bool:
    got, want = urlsplit(uri), urlsplit(site_uri)
    if (got.scheme, got.netloc) != (want.scheme, want.netloc):
        return False
    base = want.path.rstrip("/")
    return got.path == want.path or got.path.rstrip("/") == base or got.path.startswith(base + "/")


def check_rules(message: SiweMessage, rules: SiteRules, now: datetime) -> None:
    """Every EIP-4361 rule except the nonce and the signature (which need state and crypto)."""
    if message.domain != rules.domain:
        raise DomainMismatch(f"message is for {message.domain!r}, this site is {rules.domain!r}")
    if message.scheme is not None and message.scheme != urlsplit(rules.uri).scheme:
        raise DomainMismatch(f"message scheme {message.scheme!r} does not match this site")
    if not _uri_belongs_to_site(message.uri, rules.uri):
        raise UriMismatch(f"message URI {message.uri!r} is not under {rules.uri!r}")
    if message.chain_id not in rules.chain_ids:
        raise UnsupportedChain(
            f"chain {message.chain_id} is not supported; use one of {sorted(rules.chain_ids)}",
            field="chainId",
        )
    issued_at = _aware(message.issued_at)
    if issued_at > now + rules.clock_skew:
        raise MessageNotYetValid("Issued At is in the future")
    if message.expiration_time is not None and _aware(message.expiration_time) <= now - rules.clock_skew:
        raise MessageExpired("the message's Expiration Time has passed")
    if now - issued_at > rules.max_age + rules.clock_skew:
        raise MessageExpired("the message was issued too long ago; request a new nonce")
    if message.not_before is not None and _aware(message.not_before) > now + rules.clock_skew:
        raise MessageNotYetValid("the message's Not Before time has not come")


def _aware(value: datetime) -> datetime:
    # RFC 3339 times always carry an offset, so fromisoformat gives aware datetimes; guard anyway.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
