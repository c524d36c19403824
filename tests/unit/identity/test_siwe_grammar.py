"""EIP-4361's ABNF, production by production: what the grammar allows parses, nothing else does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidewatch.identity.errors import MalformedSiweMessage
from tidewatch.identity.siwe import parse_message

ADDRESS = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
HEADER = "service.org wants you to sign in with your Ethereum account:"
FULL = "\n".join(
    [
        HEADER,
        ADDRESS,
        "",
        "I accept the ServiceOrg Terms of Service: https://service.org/tos",
        "",
        "URI: https://service.org/login",
        "Version: 1",
        "Chain ID: 1",
        "Nonce: 32891756",
        "Issued At: 2021-09-30T16:25:24Z",
        "Expiration Time: 2021-09-30T16:35:24Z",
        "Not Before: 2021-09-30T16:25:00Z",
        "Request ID: some-request_1:@x",
        "Resources:",
        "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "- https://example.com/my-web2-claim.json",
    ]
)


def refused(text: str, field: str | None = None) -> MalformedSiweMessage:
    with pytest.raises(MalformedSiweMessage) as caught:
        parse_message(text)
    if field is not None:
        assert caught.value.extra.get("field") == field
    return caught.value


def test_the_full_message_with_every_optional_field_parses() -> None:
    message = parse_message(FULL)
    assert message.request_id == "some-request_1:@x"
    assert message.not_before is not None
    assert len(message.resources) == 2


# --- sign-in-with-ethereum: the line structure -------------------------------------------------


def test_crlf_line_ends_are_refused() -> None:
    assert "CR" in str(refused(FULL.replace("\n", "\r\n")))


def test_a_lone_cr_is_refused() -> None:
    refused(FULL.replace("Version: 1", "Version: 1\r"))


def test_a_trailing_newline_is_refused() -> None:
    assert "newline" in str(refused(FULL + "\n"))


def test_a_byte_order_mark_is_refused() -> None:
    refused("\ufeff" + FULL)


def test_non_ascii_anywhere_is_refused() -> None:
    refused(FULL.replace("Terms of Service", "Términos"))


@pytest.mark.parametrize(
    "line",
    [
        "Version: 1",
        "Chain ID: 1",
        "Nonce: 32891756",
        "Issued At: 2021-09-30T16:25:24Z",
        "Not Before: 2021-09-30T16:25:00Z",
    ],
)
def test_a_duplicated_field_line_is_refused(line: str) -> None:
    refused(FULL.replace(line, f"{line}\n{line}"))


def test_a_duplicated_uri_line_is_refused() -> None:
    refused(FULL.replace("URI: https://service.org/login", "URI: https://service.org/login\nURI: https://evil.example"))


@pytest.mark.parametrize("extra", ["Foo: bar", "X-Tidewatch: 1", "Statement: hello", ""])
def test_unknown_fields_and_stray_lines_are_refused(extra: str) -> None:
    refused(FULL.replace("Nonce: 32891756", f"Nonce: 32891756\n{extra}"))
    refused(FULL + f"\n{extra}" if extra else FULL + "\n\n")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Version: 1", "Chain ID: 1"),
        ("Chain ID: 1", "Nonce: 32891756"),
        ("Expiration Time: 2021-09-30T16:35:24Z", "Not Before: 2021-09-30T16:25:00Z"),
        ("Not Before: 2021-09-30T16:25:00Z", "Request ID: some-request_1:@x"),
    ],
)
def test_fields_out_of_order_are_refused(first: str, second: str) -> None:
    refused(FULL.replace(f"{first}\n{second}", f"{second}\n{first}"))


def test_resources_before_a_field_are_refused() -> None:
    moved = FULL.replace("Request ID: some-request_1:@x\n", "")
    refused(moved + "\nRequest ID: x")


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("URI: ", "URI:"),
        ("URI: ", "URI:  "),
        ("URI: ", "uri: "),
        ("Version: ", "Version:"),
        ("Chain ID: ", "ChainID: "),
        ("Chain ID: ", "Chain Id: "),
        ("Nonce: ", "Nonce:\t"),
        ("Issued At: ", "Issued at: "),
        ("Expiration Time: ", "Expiration-Time: "),
        ("Not Before: ", "Not before: "),
        ("Request ID: ", "Request Id: "),
        ("Resources:", "Resources: "),
        ("Resources:", "resources:"),
        (" wants you to sign in with your Ethereum account:", " wants you to sign in with your ethereum account:"),
        (" wants you to sign in with your Ethereum account:", " wants you to sign in with your Ethereum account"),
    ],
)
def test_literals_are_exact_and_case_sensitive(good: str, bad: str) -> None:
    refused(FULL.replace(good, bad, 1))


# --- [ statement LF ] LF -----------------------------------------------------------------------


def test_without_a_statement_two_empty_lines_follow_the_address() -> None:
    text = FULL.replace("I accept the ServiceOrg Terms of Service: https://service.org/tos\n", "")
    assert parse_message(text).statement is None
    refused(text.replace(f"{ADDRESS}\n\n\n", f"{ADDRESS}\n\n"))  # one empty line is not the grammar
    refused(text.replace(f"{ADDRESS}\n\n\n", f"{ADDRESS}\n\n\n\n\n"))  # nor are three


def test_an_empty_statement_is_a_statement() -> None:
    text = FULL.replace("I accept the ServiceOrg Terms of Service: https://service.org/tos", "")
    assert parse_message(text).statement == ""


@pytest.mark.parametrize("char", ['"', "<", ">", "\\", "^", "`", "{", "|", "}", "%", "\t"])
def test_statement_characters_outside_rfc3986_reserved_unreserved_and_space_are_refused(char: str) -> None:
    refused(FULL.replace("Terms of Service", f"Terms {char} of Service"), "statement")


def test_a_two_line_statement_is_refused() -> None:
    refused(FULL.replace("Terms of Service:", "Terms of Service:\nand more"))


# --- scheme and domain (RFC 3986 scheme and authority) -----------------------------------------


@pytest.mark.parametrize("domain", ["service.org", "service.org:8443", "user@service.org", "[::1]:3000", "127.0.0.1"])
def test_domains_that_are_rfc3986_authorities_parse(domain: str) -> None:
    assert parse_message(FULL.replace("service.org wants", f"{domain} wants", 1)).domain == domain


@pytest.mark.parametrize("domain", ["", "service org", "service.org/path", "service.org?q", "servi<e.org", "a@b@c"])
def test_domains_that_are_not_authorities_are_refused(domain: str) -> None:
    refused(FULL.replace("service.org wants", f"{domain} wants", 1))


def test_scheme_must_be_an_rfc3986_scheme() -> None:
    assert parse_message("https://" + FULL).scheme == "https"
    refused("1https://" + FULL, "scheme")
    refused("ht_tps://" + FULL, "scheme")


# --- address -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [ADDRESS.lower(), ADDRESS[:-1], ADDRESS + "0", "0X" + ADDRESS[2:], " " + ADDRESS, ADDRESS.replace("aA", "gG")],
)
def test_addresses_must_be_0x_40_hex_digits_eip55_checksummed(address: str) -> None:
    refused(FULL.replace(ADDRESS, address), "address")


# --- uri and resources (RFC 3986 URI) ----------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["https://service.org/login", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "https://[::1]:3000/a?b=c#d"]
)
def test_uris_that_are_rfc3986_parse(uri: str) -> None:
    assert parse_message(FULL.replace("URI: https://service.org/login", f"URI: {uri}")).uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "/login",
        "service.org/login",
        "https://service.org/a b",
        "https://service.org/%zz",
        "https://[::g]/",
        "https://a/#b#c",
    ],
)
def test_uris_that_are_not_rfc3986_are_refused(uri: str) -> None:
    refused(FULL.replace("URI: https://service.org/login", f"URI: {uri}"), "uri")


def test_resources_are_dash_space_uri_lines_and_may_be_empty() -> None:
    base = FULL.split("\nResources:")[0]
    assert parse_message(base + "\nResources:").resources == ()
    refused(base + "\nResources:\n-https://example.com")
    refused(base + "\nResources:\n- not a uri", "resources")


# --- version, chain-id, nonce, request-id ------------------------------------------------------


@pytest.mark.parametrize("version", ["2", "01", "1.0", " 1", ""])
def test_version_is_exactly_1(version: str) -> None:
    refused(FULL.replace("Version: 1", f"Version: {version}"), "version")


def test_chain_id_is_decimal_digits() -> None:
    assert parse_message(FULL.replace("Chain ID: 1", "Chain ID: 8453")).chain_id == 8453
    for bad in ["", "-1", "0x1", "１", "٣", "1 "]:
        refused(FULL.replace("Chain ID: 1", f"Chain ID: {bad}"))


@pytest.mark.parametrize("nonce", ["1234567", "1234567-", "12345678 ", "１２３４５６７８", "abcdefg_"])
def test_nonce_is_at_least_8_ascii_alphanumerics(nonce: str) -> None:
    refused(FULL.replace("Nonce: 32891756", f"Nonce: {nonce}"))


@pytest.mark.parametrize("request_id", ["a b", "a/b", "a?b", "a#b", "%zz"])
def test_request_id_is_pchars_only(request_id: str) -> None:
    refused(FULL.replace("Request ID: some-request_1:@x", f"Request ID: {request_id}"), "requestId")


def test_an_empty_request_id_is_allowed() -> None:
    assert parse_message(FULL.replace("Request ID: some-request_1:@x", "Request ID: ")).request_id == ""


# --- date-time (RFC 3339) ----------------------------------------------------------------------

Mutation = Callable[[str], str]


@pytest.mark.parametrize(
    "value",
    [
        "2021-09-30T16:25:24.123456789Z",
        "2021-09-30t16:25:24z",
        "2021-09-30T16:25:24+02:00",
        "2016-12-31T23:59:60Z",  # a leap second
    ],
)
def test_rfc3339_date_times_parse(value: str) -> None:
    parse_message(FULL.replace("Issued At: 2021-09-30T16:25:24Z", f"Issued At: {value}"))


@pytest.mark.parametrize(
    "value",
    [
        "2021-09-30 16:25:24Z",
        "2021-09-30T16:25:24",
        "2021-09-30T16:25Z",
        "2021-02-30T16:25:24Z",
        "2021-13-01T16:25:24Z",
        "2021-09-30T24:00:00Z",
        "2021-09-30T16:25:24.Z",
        "2021-09-30T16:25:24+0200",
        "２０２１-09-30T16:25:24Z",
        "20210930T162524Z",
    ],
)
def test_date_times_rfc3339_does_not_allow_are_refused(value: str) -> None:
    refused(
        FULL.replace("Issued At: 2021-09-30T16:25:24Z", f"Issued At: {value}"), "issuedAt" if value.isascii() else None
    )
