"""EIP-4361 (Sign-In with Ethereum) messages: strict parsing and rule checking.

The parser follows the EIP's ABNF exactly (RFC 5234; `%s` literals are case-sensitive):

    sign-in-with-ethereum =
        [ scheme "://" ] domain %s" wants you to sign in with your Ethereum account:" LF
        address LF
        LF
        [ statement LF ]
        LF
        %s"URI: " uri LF
        %s"Version: " version LF
        %s"Chain ID: " chain-id LF
        %s"Nonce: " nonce LF
        %s"Issued At: " issued-at
        [ LF %s"Expiration Time: " expiration-time ]
        [ LF %s"Not Before: " not-before ]
        [ LF %s"Request ID: " request-id ]
        [ LF %s"Resources:" resources ]
    scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )        ; RFC 3986
    domain = authority                                         ; RFC 3986
    address = "0x" 40*40HEXDIG                                 ; and EIP-55 checksummed
    statement = *( reserved / unreserved / " " )               ; RFC 3986 character classes
    uri = URI                                                  ; RFC 3986
    version = "1"
    chain-id = 1*DIGIT
    nonce = 8*( ALPHA / DIGIT )
    issued-at = expiration-time = not-before = date-time       ; RFC 3339
    request-id = *pchar                                        ; RFC 3986
    resources = *( LF resource )
    resource = "- " URI

So: LF only (a CR anywhere is refused), no byte-order mark, no trailing newline, every field
exactly once and in this order, nothing the grammar does not name, the exact literals ("URI: "
with its space), and ASCII throughout (every term is drawn from ASCII classes).

Signature checks live in `tidewatch.identity.signatures`; this module has no crypto imports.
"""

from __future__ import annotations

import ipaddress
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

# RFC 3986 character classes (ASCII only: Python's \d and \w would admit other scripts' digits).
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"  # includes IPv4address
_IP_LITERAL = rf"\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_HIER_PART = (
    rf"(?://{_AUTHORITY}(?:/{_SEGMENT})*"  # "//" authority path-abempty
    rf"|/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"  # path-absolute
    rf"|{_SEGMENT_NZ}(?:/{_SEGMENT})*"  # path-rootless
    r"|)"  # path-empty
)
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_URI = re.compile(rf"{_SCHEME}:{_HIER_PART}(?:\?{_QUERY})?(?:#{_QUERY})?")

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_SCHEME_RE = re.compile(_SCHEME)
_AUTHORITY_RE = re.compile(_AUTHORITY)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_STATEMENT = re.compile(rf"[{_UNRESERVED}:/?#\[\]@{_SUB_DELIMS} ]*")
_CHAIN_ID = re.compile(r"[0-9]+")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_REQUEST_ID = re.compile(rf"{_PCHAR}*")
# RFC 3339 date-time; "T" and "Z" may be lower case (RFC 3339 section 5.6, ABNF strings are
# case-insensitive). Day-of-month against the month is checked by datetime itself.
_DATE_TIME = re.compile(
    r"(?P<date>[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))[Tt]"
    r"(?P<hm>(?:[01][0-9]|2[0-3]):[0-5][0-9]):(?P<second>[0-5][0-9]|60)(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# EIP-4361 sets no maximum lengths and leaves them to implementers (security considerations);
# these bound the work of parsing and what is stored, far above any real sign-in message.
MAX_MESSAGE_CHARS = 8192
MAX_CHAIN_ID_DIGITS = 19
_OPTIONAL = (("Expiration Time: ", "expirationTime"), ("Not Before: ", "notBefore"), ("Request ID: ", "requestId"))


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
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise MalformedSiweMessage(f"{name} is not an RFC 3339 date-time", field=name)
    # A leap second (:60) is valid RFC 3339; datetime has no 60th second, so it reads as :59.
    second = "59" if match["second"] == "60" else match["second"]
    fraction = f".{match['fraction'][:6]}" if match["fraction"] else ""
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        return datetime.fromisoformat(f"{match['date']}T{match['hm']}:{second}{fraction}{offset}")
    except ValueError as exc:  # e.g. 2021-02-30
        raise MalformedSiweMessage(f"{name} is not a valid date-time", field=name) from exc


def _is_uri(value: str) -> bool:
    """RFC 3986 `URI` (absolute, optional query and fragment), IPv6 literals checked."""
    if _URI.fullmatch(value) is None:
        return False
    literal = re.search(r"//(?:[^@/?#]*@)?\[([0-9A-Fa-f:.]+)\]", value)
    if literal is not None:
        try:
            ipaddress.IPv6Address(literal.group(1))
        except ValueError:
            return False
    return True


def _checksummed(address: str) -> str:
    # EIP-4361 requires the EIP-55 mixed-case form; eth_utils is light (no web3).
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


class _Lines:
    """The message's lines, consumed front to back, each checked against the grammar."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._at = 0

    def peek(self) -> str | None:
        return self._lines[self._at] if self._at < len(self._lines) else None

    def take(self, what: str) -> str:
        line = self.peek()
        if line is None:
            raise MalformedSiweMessage(f"the message ends before {what}")
        self._at += 1
        return line

    def field(self, prefix: str, name: str) -> str:
        line = self.take(f"the {prefix.strip()!r} line")
        if not line.startswith(prefix):
            raise MalformedSiweMessage(
                f"expected {prefix!r} here (fields appear once each, in EIP-4361 order), got {line[:60]!r}",
                field=name,
            )
        return line[len(prefix) :]

    def empty(self, why: str) -> None:
        if self.take("an empty line") != "":
            raise MalformedSiweMessage(why)


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; anything the ABNF does not produce is a `MalformedSiweMessage`."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise MalformedSiweMessage(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
    if not text.isascii():
        raise MalformedSiweMessage("the message must be ASCII (no byte-order mark, no other characters)")
    if "\r" in text:
        raise MalformedSiweMessage("lines must end with LF only (no CR, no CRLF)")
    if text.endswith("\n"):
        raise MalformedSiweMessage("the message must not end with a newline")
    lines = _Lines(text.split("\n"))

    first = lines.take("the first line")
    if not first.endswith(_HEADER_SUFFIX):
        raise MalformedSiweMessage(f"first line must be '<domain>{_HEADER_SUFFIX}'")
    authority = first[: -len(_HEADER_SUFFIX)]
    scheme: str | None = None
    if "://" in authority:
        scheme, authority = authority.split("://", 1)
        if _SCHEME_RE.fullmatch(scheme) is None:
            raise MalformedSiweMessage("the scheme before the domain is not an RFC 3986 scheme", field="scheme")
    if not authority or _AUTHORITY_RE.fullmatch(authority) is None:
        raise MalformedSiweMessage("the domain is not an RFC 3986 authority", field="domain")

    address = lines.take("the address")
    if _ADDRESS.fullmatch(address) is None:
        raise MalformedSiweMessage("second line must be a 0x-prefixed 20-byte address", field="address")
    if address != _checksummed(address):
        raise MalformedSiweMessage("address must be EIP-55 checksummed", field="address")
    lines.empty("an empty line must follow the address")

    # [ statement LF ] LF: either an empty line (no statement) then URI, or a statement line
    # (possibly empty) followed by an empty line.
    statement: str | None = None
    line = lines.take("the statement or an empty line")
    if not (line == "" and (lines.peek() or "").startswith("URI: ")):
        statement = line
        if _STATEMENT.fullmatch(statement) is None:
            raise MalformedSiweMessage(
                "the statement may hold only RFC 3986 reserved/unreserved characters and spaces", field="statement"
            )
        lines.empty("the statement must be one line followed by an empty line")

    uri = lines.field("URI: ", "uri")
    if not _is_uri(uri):
        raise MalformedSiweMessage("URI must be an absolute RFC 3986 URI", field="uri")
    if lines.field("Version: ", "version") != "1":
        raise MalformedSiweMessage("Version must be 1", field="version")
    chain_id = lines.field("Chain ID: ", "chainId")
    if _CHAIN_ID.fullmatch(chain_id) is None or len(chain_id) > MAX_CHAIN_ID_DIGITS:
        raise MalformedSiweMessage("Chain ID must be decimal digits (an EIP-155 chain id)", field="chainId")
    nonce = lines.field("Nonce: ", "nonce")
    if _NONCE.fullmatch(nonce) is None:
        raise MalformedSiweMessage("Nonce must be at least 8 alphanumeric characters", field="nonce")
    issued_at = _parse_time("issuedAt", lines.field("Issued At: ", "issuedAt"))

    optional: dict[str, str] = {}
    for prefix, name in _OPTIONAL:
        if (lines.peek() or "").startswith(prefix):
            optional[name] = lines.field(prefix, name)
    request_id = optional.get("requestId")
    if request_id is not None and _REQUEST_ID.fullmatch(request_id) is None:
        raise MalformedSiweMessage("Request ID may hold only RFC 3986 pchar characters", field="requestId")
    resources: list[str] = []
    if lines.peek() == "Resources:":
        lines.take("Resources:")
        while (next_line := lines.peek()) is not None and next_line.startswith("- "):
            resources.append(lines.take("a resource")[2:])
        if any(not _is_uri(r) for r in resources):
            raise MalformedSiweMessage("each resource must be '- ' and an RFC 3986 URI", field="resources")
    leftover = lines.peek()
    if leftover is not None:
        raise MalformedSiweMessage(
            f"unexpected line {leftover[:60]!r}: fields appear once each, in EIP-4361 order, and no others"
        )
    return SiweMessage(
        scheme=scheme,
        domain=authority,
        address=address,
        statement=statement,
        uri=uri,
        version="1",
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=_parse_time("expirationTime", optional["expirationTime"])
        if "expirationTime" in optional
        else None,
        not_before=_parse_time("notBefore", optional["notBefore"]) if "notBefore" in optional else None,
        request_id=request_id,
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
