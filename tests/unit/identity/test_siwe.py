"""EIP-4361 parsing and rule checks, without network or stores."""

from datetime import UTC, datetime, timedelta

import pytest

from tidewatch.identity.errors import (
    DomainMismatch,
    MalformedSiweMessage,
    MessageExpired,
    MessageNotYetValid,
    UnsupportedChain,
    UriMismatch,
)
from tidewatch.identity.siwe import SiteRules, SiweMessage, check_rules, parse_message

# The example message of EIP-4361 (with its checksummed address).
EIP_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""

NOW = datetime(2021, 9, 30, 16, 26, tzinfo=UTC)
RULES = SiteRules(
    domain="service.org",
    uri="https://service.org",
    chain_ids=frozenset({1, 8453}),
    clock_skew=timedelta(seconds=60),
    max_age=timedelta(minutes=5),
)


def test_parses_the_eip_example_and_prints_it_back_identically() -> None:
    message = parse_message(EIP_EXAMPLE)
    assert message.domain == "service.org"
    assert message.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert message.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert message.chain_id == 1
    assert message.nonce == "32891756"
    assert message.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert len(message.resources) == 2
    assert message.to_text() == EIP_EXAMPLE


def test_statement_is_optional() -> None:
    # ABNF: without a statement, two empty lines separate the address from the URI
    text = EIP_EXAMPLE.replace("I accept the ServiceOrg Terms of Service: https://service.org/tos\n", "")
    message = parse_message(text)
    assert message.statement is None
    assert message.to_text() == text
    # and the one-empty-line form some libraries produce is not EIP-4361: refused
    with pytest.raises(MalformedSiweMessage):
        parse_message(text.replace("\n\n\n", "\n\n"))


def test_scheme_prefixed_domain_is_parsed() -> None:
    message = parse_message("https://" + EIP_EXAMPLE)
    assert message.scheme == "https"
    assert message.domain == "service.org"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda t: t.replace(
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
            ),
            "address",
        ),
        (lambda t: t.replace("Nonce: 32891756", "Nonce: 123"), "nonce"),
        (lambda t: t.replace("Version: 1", "Version: 2"), "version"),
        (lambda t: t.replace("Chain ID: 1", "Chain ID: one"), "chainId"),
        (lambda t: t.replace("Issued At: 2021-09-30T16:25:24Z", "Issued At: yesterday"), "issuedAt"),
        (lambda t: t.replace("URI: https://service.org/login\n", ""), "uri"),
    ],
)
def test_grammar_violations_are_malformed(mutate, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedSiweMessage) as caught:
        parse_message(mutate(EIP_EXAMPLE))
    assert caught.value.extra.get("field") == field


def test_fields_out_of_order_are_malformed() -> None:
    swapped = EIP_EXAMPLE.replace("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1")
    with pytest.raises(MalformedSiweMessage):
        parse_message(swapped)


def test_wrong_first_line_is_malformed() -> None:
    with pytest.raises(MalformedSiweMessage):
        parse_message(EIP_EXAMPLE.replace("wants you to sign in", "asks you to log in"))


def _message(**changes: object) -> SiweMessage:
    base = parse_message(EIP_EXAMPLE)
    return SiweMessage(**(base.__dict__ | changes))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"domain": "evil.org"}, DomainMismatch),
        ({"scheme": "http"}, DomainMismatch),
        ({"uri": "https://evil.org/login"}, UriMismatch),
        ({"uri": "http://service.org/login"}, UriMismatch),
        ({"chain_id": 56}, UnsupportedChain),
        ({"expiration_time": NOW - timedelta(minutes=2)}, MessageExpired),
        ({"issued_at": NOW - timedelta(hours=1)}, MessageExpired),
        ({"issued_at": NOW + timedelta(minutes=5)}, MessageNotYetValid),
        ({"not_before": NOW + timedelta(minutes=5)}, MessageNotYetValid),
    ],
)
def test_each_rule(changes: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_rules(_message(**changes), RULES, NOW)


def test_a_valid_message_passes_all_rules() -> None:
    check_rules(_message(expiration_time=NOW + timedelta(minutes=1), not_before=NOW - timedelta(seconds=1)), RULES, NOW)


def test_uri_under_the_site_path_is_accepted_but_not_a_sibling_prefix() -> None:
    rules = SiteRules(**(RULES.__dict__ | {"uri": "https://service.org/app"}))
    check_rules(_message(uri="https://service.org/app/login"), rules, NOW)
    with pytest.raises(UriMismatch):
        check_rules(_message(uri="https://service.org/application"), rules, NOW)
