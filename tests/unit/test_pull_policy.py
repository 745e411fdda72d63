"""The pull policy's pure part: levels, who it spares, its stored form and its message."""

from __future__ import annotations

import pytest

from wharf.secscan import policy
from wharf.secscan.policy import Finding, PullPolicy
from wharf.secscan.severity import Severity


def test_levels_follow_the_severity_scale() -> None:
    assert tuple(s.value for s in Severity) == policy.LEVELS


def test_levels_at_or_above_worst_first() -> None:
    assert policy.make("High").levels == ("Critical", "High")
    assert policy.make("Unknown").levels == tuple(reversed(policy.LEVELS))
    assert policy.make(None).levels == ()


def test_unknown_severity_is_refused() -> None:
    with pytest.raises(policy.PolicyError):
        policy.make("Severe")


@pytest.mark.parametrize(
    ("kind", "superuser", "robots", "superusers", "spared"),
    [
        ("user", False, True, True, False),
        ("anonymous", False, True, True, False),
        ("robot", False, True, False, True),
        ("robot", False, False, True, False),
        ("user", True, False, True, True),
        ("user", True, True, False, False),
    ],
)
def test_spares(kind: str, superuser: bool, robots: bool, superusers: bool, spared: bool) -> None:
    p = policy.make("Low", exempt_robots=robots, exempt_superusers=superusers)
    assert p.spares(kind, superuser) is spared


def test_off_spares_everyone() -> None:
    assert PullPolicy(None).spares("anonymous", False)


def test_round_trip_and_unreadable_text() -> None:
    p = policy.make("Medium", fixable_only=False, exempt_robots=True, exempt_superusers=False)
    assert policy.from_json(p.to_json()) == p
    assert policy.from_json("not json") == PullPolicy(None)
    assert policy.from_json('{"severity": "Severe"}') == PullPolicy(None)
    assert policy.from_json("[]") == PullPolicy(None)


def test_refusal_names_the_vulnerability_and_the_policy() -> None:
    finding = Finding("CVE-2024-0001", "Critical", "openssl", "3.0.11-1", "3.0.13-1")
    text = policy.refusal(policy.make("High"), "organization acme", finding)
    assert "CVE-2024-0001 (Critical) in openssl 3.0.11-1, fixed in 3.0.13-1" in text
    assert "organization acme" in text and "fixable vulnerabilities of severity High or higher" in text
    unfixed = Finding("CVE-2024-0002", "High", "zlib", "1.2", "")
    assert "no fix yet" in policy.refusal(policy.make("High", fixable_only=False), "the registry", unfixed)
