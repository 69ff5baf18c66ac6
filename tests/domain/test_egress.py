"""The egress rule: which hosts a sequence may call, and addresses never allowed."""

from __future__ import annotations

import pytest

from taskgate.domain.egress import EgressRefused, EgressRule, check_address


def test_names_suffixes_addresses_and_networks() -> None:
    rule = EgressRule.of(["api.example.com", "*.corp.example", "10.1.0.0/16", "127.0.0.1"])
    assert rule.allows_host("API.example.com")
    assert rule.allows_host("a.b.corp.example")
    assert not rule.allows_host("corp.example.evil.com")
    assert rule.allows_host("10.1.2.3")
    assert not rule.allows_host("10.2.0.1")
    assert rule.allows_host("127.0.0.1")
    assert not rule.allows_host("localhost")


def test_an_empty_rule_allows_nothing() -> None:
    with pytest.raises(EgressRefused):
        EgressRule.of([]).check_host("example.com")


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fe80::1%eth0",
        "100.100.100.200",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "0.0.0.0",
    ],
)
def test_link_local_and_metadata_addresses_are_refused_whatever_the_name(address: str) -> None:
    with pytest.raises(EgressRefused, match="link-local or metadata"):
        check_address("allowed.example.com", address)


def test_ordinary_addresses_pass() -> None:
    check_address("x", "10.0.0.1")
    check_address("x", "127.0.0.1")
