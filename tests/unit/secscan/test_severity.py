"""OSV severities on Quay's scale, by the seed's Clair severity mapping tables."""

from typing import Any

import pytest

from wharf.secscan.severity import Rating, Severity, from_score, from_vector, rate


def record(ecosystem: str, **fields: Any) -> dict[str, Any]:
    return {"id": "X-1", "affected": [{"package": {"ecosystem": ecosystem, "name": "p"}}], **fields}


def cvss(kind: str, vector: str) -> dict[str, str]:
    return {"type": kind, "score": vector}


@pytest.mark.parametrize(
    ("score", "version", "severity"),
    [
        (0.0, 3, Severity.NEGLIGIBLE),
        (0.1, 3, Severity.LOW),
        (3.9, 3, Severity.LOW),
        (4.0, 3, Severity.MEDIUM),
        (6.9, 3, Severity.MEDIUM),
        (7.0, 3, Severity.HIGH),
        (8.9, 3, Severity.HIGH),
        (9.0, 3, Severity.CRITICAL),
        (10.0, 3, Severity.CRITICAL),
        (0.0, 4, Severity.NEGLIGIBLE),
        (9.3, 4, Severity.CRITICAL),
        # CVSS v2 has its own table: no Negligible, no Critical.
        (0.0, 2, Severity.LOW),
        (3.9, 2, Severity.LOW),
        (4.0, 2, Severity.MEDIUM),
        (7.0, 2, Severity.HIGH),
        (10.0, 2, Severity.HIGH),
    ],
)
def test_score_tables(score: float, version: int, severity: Severity) -> None:
    assert from_score(score, version) is severity


def test_vectors() -> None:
    # Log4Shell (CVE-2021-44228).
    assert from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == Rating(
        Severity.CRITICAL, 10.0, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    )
    assert from_vector("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N") == Rating(
        Severity.NEGLIGIBLE, 0.0, "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"
    )
    v4 = from_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert v4 is not None and (v4.severity, v4.score) == (Severity.CRITICAL, 9.3)
    # 9.3 in v2 is High (its table stops there), where v3 would say Critical.
    v2 = from_vector("AV:N/AC:M/Au:N/C:C/I:C/A:C")
    assert v2 is not None and (v2.severity, v2.score) == (Severity.HIGH, 9.3)
    assert from_vector("CVSS:3.1/AV:X/nonsense") is None
    assert from_vector("") is None


def test_github_advisory_uses_its_cvss() -> None:
    # GHSA-j8r2-6x86-q33q (CVE-2023-32681, requests): CVSS 6.1, rated MODERATE by GitHub.
    ghsa = record(
        "PyPI",
        severity=[cvss("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N")],
        database_specific={"severity": "MODERATE", "github_reviewed": True, "cwe_ids": ["CWE-200"]},
    )
    assert rate(ghsa) == Rating(Severity.MEDIUM, 6.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N")


def test_prefers_v3_then_v4_then_v2() -> None:
    both = record(
        "npm",
        severity=[
            cvss("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            cvss("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"),
        ],
    )
    assert rate(both).score == 7.2
    assert rate(record("npm", severity=[cvss("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P")])).score == 7.5


def test_source_word_when_no_vector() -> None:
    assert rate(record("Go", database_specific={"severity": "MODERATE"})).severity is Severity.MEDIUM
    assert rate(record("Maven", database_specific={"severity": "critical"})).severity is Severity.CRITICAL
    assert rate(record("Go", database_specific={"severity": "whatever"})).severity is Severity.UNKNOWN
    assert rate(record("Go")) == Rating(Severity.UNKNOWN)
    broken = record(
        "PyPI", severity=[cvss("CVSS_V3", "CVSS:3.1/garbage")], database_specific={"severity": "LOW"}
    )
    assert rate(broken).severity is Severity.LOW


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        # Debian's table is one step up from its words.
        ("unimportant", Severity.LOW),
        ("low", Severity.MEDIUM),
        ("medium", Severity.HIGH),
        ("high", Severity.CRITICAL),
        ("low**", Severity.MEDIUM),
        ("not yet assigned", Severity.UNKNOWN),
    ],
)
def test_debian_table(word: str, severity: Severity) -> None:
    debian = record("Debian:12", database_specific={"urgency": word})
    assert rate(debian).severity is severity


@pytest.mark.parametrize(
    ("ecosystem", "word", "severity"),
    [
        ("Ubuntu:22.04:LTS", "untriaged", Severity.UNKNOWN),
        ("Ubuntu:22.04:LTS", "negligible", Severity.NEGLIGIBLE),
        ("Ubuntu:22.04:LTS", "low", Severity.LOW),
        ("Ubuntu:22.04:LTS", "medium", Severity.MEDIUM),
        ("Ubuntu:22.04:LTS", "high", Severity.HIGH),
        ("Ubuntu:22.04:LTS", "critical", Severity.CRITICAL),
        ("Red Hat:enterprise_linux:9::baseos", "None", Severity.UNKNOWN),
        ("Red Hat:enterprise_linux:9::baseos", "Low", Severity.LOW),
        ("Red Hat:enterprise_linux:9::baseos", "Moderate", Severity.MEDIUM),
        ("Red Hat:enterprise_linux:9::baseos", "Important", Severity.HIGH),
        ("Red Hat:enterprise_linux:9::baseos", "Critical", Severity.CRITICAL),
        ("SUSE:Linux Enterprise Server 15 SP5", "important", Severity.HIGH),
        ("Oracle Linux", "N/A", Severity.UNKNOWN),
        ("Oracle Linux", "IMPORTANT", Severity.HIGH),
        ("Amazon Linux", "important", Severity.HIGH),
        ("Amazon Linux", "medium", Severity.MEDIUM),
    ],
)
def test_distribution_tables(ecosystem: str, word: str, severity: Severity) -> None:
    assert rate(record(ecosystem, database_specific={"severity": word})).severity is severity


def test_ubuntu_priority_decides_and_cvss_is_kept() -> None:
    # UBUNTU-CVE-2023-4911 (glibc "Looney Tunables"): Ubuntu priority high, CVSS 7.8.
    ubuntu = record(
        "Ubuntu:22.04:LTS",
        severity=[
            {"type": "Ubuntu", "score": "high"},
            cvss("CVSS_V3", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"),
        ],
    )
    assert rate(ubuntu) == Rating(Severity.HIGH, 7.8, "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H")


def test_distribution_without_a_word_falls_back_to_cvss() -> None:
    rhsa = record(
        "Red Hat:enterprise_linux:9::appstream",
        severity=[cvss("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")],
    )
    assert rate(rhsa).severity is Severity.CRITICAL


def test_alpine_is_always_unknown() -> None:
    alpine = record(
        "Alpine:v3.17", severity=[cvss("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H")]
    )
    rating = rate(alpine)
    assert rating.severity is Severity.UNKNOWN
    assert rating.score == 9.1


def test_ranks_order_the_levels() -> None:
    levels = sorted(Severity, key=lambda s: s.rank)
    assert [s.value for s in levels] == ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]
