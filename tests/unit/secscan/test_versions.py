"""Version orderings per ecosystem, and OSV affected ranges read on top of them."""

from typing import Any

import pytest

from wharf.secscan.versions import (
    Scheme,
    Verdict,
    VersionError,
    compare,
    evaluate,
    in_range,
    scheme_for_ecosystem,
)

ORDERED = [
    # dpkg: epochs win over everything, "~" sorts before the empty string, revisions compare last.
    (Scheme.DPKG, "2.0-1", "1:1.0-1"),
    (Scheme.DPKG, "1.0~rc1-1", "1.0-1"),
    (Scheme.DPKG, "1.0~~", "1.0~"),
    (Scheme.DPKG, "1.0-1", "1.0-1+deb12u1"),
    (Scheme.DPKG, "2.36-9+deb12u3", "2.36-9+deb12u10"),
    (Scheme.DPKG, "1.2.3", "1.2.3-0ubuntu1"),
    # apk: -rN revisions, _alpha < _beta < _rc < (none) < _p.
    (Scheme.APK, "1.2.3-r0", "1.2.3-r1"),
    (Scheme.APK, "1.36.1-r15", "1.36.1-r29"),
    (Scheme.APK, "1.2.3_alpha1-r0", "1.2.3-r0"),
    (Scheme.APK, "1.2.3_beta2", "1.2.3_rc1"),
    (Scheme.APK, "1.2.3-r5", "1.2.3_p1-r0"),
    (Scheme.APK, "3.0.8-r0", "3.0.10-r0"),
    # rpm EVR: epoch, "~" before and "^" after, release segments compared numerically.
    (Scheme.RPM, "2.0-1.el9", "1:1.0-1.el9"),
    (Scheme.RPM, "1.0~rc1-1", "1.0-1"),
    (Scheme.RPM, "1.0-1", "1.0^git1-1"),
    (Scheme.RPM, "3.0.7-16.el9_2", "3.0.7-18.el9"),
    # PEP 440: dev < pre < final < post; local versions after their public one.
    (Scheme.PEP440, "1.0.dev1", "1.0a1"),
    (Scheme.PEP440, "1.0rc1", "1.0"),
    (Scheme.PEP440, "1.0", "1.0.post1"),
    (Scheme.PEP440, "2.9", "2.10"),
    (Scheme.PEP440, "1.0", "1.0+local.1"),
    # semver (npm): pre-releases before the release, numeric identifiers numerically.
    (Scheme.SEMVER, "1.0.0-alpha", "1.0.0"),
    (Scheme.SEMVER, "1.0.0-alpha.9", "1.0.0-alpha.10"),
    (Scheme.SEMVER, "1.0.0-alpha.beta", "1.0.0-beta"),
    (Scheme.SEMVER, "4.17.20", "4.17.21"),
    # Go: a "v" prefix, pseudo-versions are pre-releases of the next patch.
    (Scheme.GO, "v1.2.3", "v1.10.0"),
    (Scheme.GO, "v0.0.0-20210101000000-abcdefabcdef", "v0.1.0"),
    (Scheme.GO, "v0.16.0", "v0.17.0"),
    # Maven: qualifiers (alpha < beta < milestone < rc < snapshot < release), trailing zeros.
    (Scheme.MAVEN, "1.0-alpha-1", "1.0-beta-1"),
    (Scheme.MAVEN, "1.0-SNAPSHOT", "1.0"),
    (Scheme.MAVEN, "1.0-rc1", "1.0"),
    (Scheme.MAVEN, "2.13.4", "2.13.4.2"),
    (Scheme.MAVEN, "2.9.10.8", "2.12.0"),
]


@pytest.mark.parametrize(("scheme", "lower", "higher"), ORDERED)
def test_orderings(scheme: Scheme, lower: str, higher: str) -> None:
    assert compare(scheme, lower, higher) == -1
    assert compare(scheme, higher, lower) == 1
    assert compare(scheme, lower, lower) == 0


@pytest.mark.parametrize(
    ("scheme", "a", "b"),
    [
        (Scheme.DPKG, "0:1.0-1", "1.0-1"),
        (Scheme.PEP440, "1.0", "1.0.0"),
        (Scheme.GO, "v1.2.3", "1.2.3"),
        (Scheme.MAVEN, "1.0", "1.0.0"),
    ],
)
def test_equal_spellings(scheme: Scheme, a: str, b: str) -> None:
    assert compare(scheme, a, b) == 0


@pytest.mark.parametrize(
    ("scheme", "text"),
    [(Scheme.DPKG, ""), (Scheme.DPKG, "abc"), (Scheme.APK, "1.0 beta"), (Scheme.PEP440, "not a version")],
)
def test_unreadable_versions(scheme: Scheme, text: str) -> None:
    with pytest.raises(VersionError) as e:
        compare(scheme, text, "1.0")
    assert e.value.scheme is scheme


def test_ecosystems() -> None:
    assert scheme_for_ecosystem("Debian:12") is Scheme.DPKG
    assert scheme_for_ecosystem("Ubuntu:22.04:LTS") is Scheme.DPKG
    assert scheme_for_ecosystem("Alpine:v3.20") is Scheme.APK
    assert scheme_for_ecosystem("Red Hat:enterprise_linux:9::baseos") is Scheme.RPM
    assert scheme_for_ecosystem("PyPI") is Scheme.PEP440
    assert scheme_for_ecosystem("npm") is Scheme.SEMVER
    assert scheme_for_ecosystem("Go") is Scheme.GO
    assert scheme_for_ecosystem("Maven") is Scheme.MAVEN
    assert scheme_for_ecosystem("Hackage") is None


# Real OSV records' `affected` entries, trimmed to what matching reads.

# CVE-2023-4911 (glibc "Looney Tunables"), Debian 12: DSA-5514-1 fixed it in 2.36-9+deb12u3.
GLIBC_DEBIAN_12: dict[str, Any] = {
    "package": {"ecosystem": "Debian:12", "name": "glibc"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}],
}

# CVE-2023-32681 (GHSA-j8r2-6x86-q33q), requests leaking Proxy-Authorization: 2.3.0 until 2.31.0.
REQUESTS: dict[str, Any] = {
    "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
    "versions": ["2.3.0", "2.30.0", "2.4.0"],
}

# CVE-2021-23337 (GHSA-35jh-r3h4-6jhm), lodash command injection: everything before 4.17.21.
LODASH: dict[str, Any] = {
    "package": {"ecosystem": "npm", "name": "lodash"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}],
}

# CVE-2023-0286 (OpenSSL X.400 type confusion), Alpine 3.17: fixed in 3.0.8-r0.
OPENSSL_ALPINE: dict[str, Any] = {
    "package": {"ecosystem": "Alpine:v3.17", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.8-r0"}]}],
}

# CVE-2023-44487 (HTTP/2 rapid reset), GO-2023-2102 for golang.org/x/net: fixed in 0.17.0.
X_NET: dict[str, Any] = {
    "package": {"ecosystem": "Go", "name": "golang.org/x/net"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.17.0"}]}],
}


@pytest.mark.parametrize(
    ("scheme", "affected", "version", "verdict"),
    [
        (Scheme.DPKG, GLIBC_DEBIAN_12, "2.36-9+deb12u1", Verdict(True, "2.36-9+deb12u3")),
        (Scheme.DPKG, GLIBC_DEBIAN_12, "2.36-9", Verdict(True, "2.36-9+deb12u3")),
        (Scheme.DPKG, GLIBC_DEBIAN_12, "2.36-9+deb12u3", Verdict(False)),
        (Scheme.DPKG, GLIBC_DEBIAN_12, "2.36-9+deb12u10", Verdict(False)),
        (Scheme.PEP440, REQUESTS, "2.28.1", Verdict(True, "2.31.0")),
        (Scheme.PEP440, REQUESTS, "2.31.0rc1", Verdict(True, "2.31.0")),
        (Scheme.PEP440, REQUESTS, "2.31.0", Verdict(False)),
        (Scheme.PEP440, REQUESTS, "2.2.1", Verdict(False)),
        (Scheme.SEMVER, LODASH, "4.17.20", Verdict(True, "4.17.21")),
        (Scheme.SEMVER, LODASH, "4.17.21", Verdict(False)),
        (Scheme.APK, OPENSSL_ALPINE, "3.0.7-r2", Verdict(True, "3.0.8-r0")),
        (Scheme.APK, OPENSSL_ALPINE, "3.0.8-r0", Verdict(False)),
        (Scheme.GO, X_NET, "v0.0.0-20220722155237-a158d28d115b", Verdict(True, "0.17.0")),
        (Scheme.GO, X_NET, "v0.16.0", Verdict(True, "0.17.0")),
        (Scheme.GO, X_NET, "v0.17.0", Verdict(False)),
    ],
)
def test_real_records(scheme: Scheme, affected: dict[str, Any], version: str, verdict: Verdict) -> None:
    assert evaluate(scheme, version, affected) == verdict


def test_last_affected_is_inclusive_and_names_no_fix() -> None:
    events = [{"introduced": "1.0.0"}, {"last_affected": "1.4.2"}]
    assert in_range(Scheme.SEMVER, "1.4.2", events) == Verdict(True, None)
    assert in_range(Scheme.SEMVER, "1.4.3", events) == Verdict(False)
    assert in_range(Scheme.SEMVER, "0.9.0", events) == Verdict(False)


def test_several_intervals_in_one_range_given_in_any_order() -> None:
    # Two branches fixed separately, the events listed out of order as some sources write them.
    events = [{"fixed": "2.5.3"}, {"introduced": "2.0.0"}, {"fixed": "1.9.8"}, {"introduced": "1.0.0"}]
    assert in_range(Scheme.SEMVER, "1.9.7", events) == Verdict(True, "1.9.8")
    assert in_range(Scheme.SEMVER, "1.9.9", events) == Verdict(False)
    assert in_range(Scheme.SEMVER, "2.5.0", events) == Verdict(True, "2.5.3")
    assert in_range(Scheme.SEMVER, "3.0.0", events) == Verdict(False)


def test_open_range_has_no_fix() -> None:
    assert in_range(Scheme.DPKG, "5.0-1", [{"introduced": "0"}]) == Verdict(True, None)


def test_versions_list_alone() -> None:
    affected = {"versions": ["1.2.3", "1.2.4"]}
    assert evaluate(Scheme.PEP440, "1.2.4", affected) == Verdict(True)
    assert evaluate(Scheme.PEP440, "1.2.5", affected) == Verdict(False)


def test_git_ranges_and_unreadable_events_are_skipped() -> None:
    affected = {
        "ranges": [
            {"type": "GIT", "repo": "https://example.org/x.git", "events": [{"introduced": "0"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "not a version!"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.4"}]},
        ]
    }
    assert evaluate(Scheme.PEP440, "1.0", affected) == Verdict(False)
    assert evaluate(Scheme.PEP440, "2.1", affected) == Verdict(True, "2.4")


def test_unreadable_installed_version_raises() -> None:
    with pytest.raises(VersionError):
        evaluate(Scheme.DPKG, "", GLIBC_DEBIAN_12)
