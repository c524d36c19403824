"""The webhook egress policy: every resolved address must be public, in every spelling."""

from __future__ import annotations

import pytest

from tidewatch.rules.egress import BlockedTarget, EgressPolicy


def resolving(*addresses: str) -> EgressPolicy:
    return EgressPolicy(resolve=lambda host, port: list(addresses))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.64.0.7/", "carrier-grade NAT"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://[fc00::1]/", "private"),
        # IPv4 embedded in IPv6
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://[64:ff9b::10.0.0.1]/", "private"),
        ("http://[64:ff9b:1::808:808]/", "local-use NAT64"),
        ("http://[2002:a9fe:a9fe::1]/", "metadata"),
        ("http://[2002:0a00:0001::1]/", "private"),
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"),  # Teredo client 10.0.0.1
        ("http://[::127.0.0.1]/", "IPv4-compatible"),
        # numeric encodings of 127.0.0.1 and 169.254.169.254
        ("http://2130706433/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://2852039166/", "metadata"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
    ],
)
def test_non_public_targets_are_refused_in_every_spelling(url: str, why: str) -> None:
    # Given the production policy; When a URL naming a non-public address is checked
    with pytest.raises(BlockedTarget) as refused:
        EgressPolicy(resolve=lambda host, port: pytest.fail("an IP literal is never resolved")).check(url)
    # Then it is refused and the reason names the kind of address
    assert why in str(refused.value)


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    # Given a name resolving to one public and one private address (split-horizon or rebinding)
    policy = resolving("93.184.215.14", "10.0.0.5")
    # Then it is refused, naming the private answer
    with pytest.raises(BlockedTarget, match=r"hooks\.example\.com resolves to 10\.0\.0\.5"):
        policy.check("https://hooks.example.com/x")
    assert "private" in (resolving("10.0.0.5").refusal("https://hooks.example.com/x") or "")


def test_a_public_target_keeps_its_name_port_path_and_the_checked_addresses() -> None:
    # Given a public name
    target = resolving("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c").check(
        "https://Hooks.Example.com:8443/in/hook?x=1#frag"
    )
    # Then the request goes to the checked addresses, with the URL's host for Host and SNI
    assert target.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/in/hook?x=1",
    )
    assert target.host_header == "hooks.example.com:8443"


def test_unresolvable_names_and_non_http_urls_are_refused_at_creation() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    assert "does not resolve" in (EgressPolicy(resolve=fails).refusal("https://nowhere.invalid/") or "")
    assert "http(s)" in (EgressPolicy().refusal("ftp://example.com/") or "")
    assert "http(s)" in (EgressPolicy().refusal("file:///etc/passwd") or "")


def test_the_loopback_allowance_admits_loopback_only() -> None:
    # Given the test-only loopback allowance
    policy = EgressPolicy(allow_loopback=True)
    # Then loopback passes, while private and metadata addresses are still refused
    assert policy.check("http://127.0.0.1:9/hook").addresses == ("127.0.0.1",)
    assert policy.refusal("http://[::1]:9/hook") is None
    assert "private" in (policy.refusal("http://10.0.0.1/") or "")
    assert "metadata" in (policy.refusal("http://169.254.169.254/") or "")
    # And the local run's private allowance never opens the metadata service
    assert "metadata" in (EgressPolicy(allow_private=True).refusal("http://[fd00:ec2::254]/") or "")
