"""The OSV ecosystem and name a found package is matched under: both sides of a match (stored
packages and stored advisories) must meet on the same strings."""

from __future__ import annotations

import pytest

from wharf.secscan import ecosystems
from wharf.secscan.packages import Distribution, Kind, Package

DEBIAN = Distribution("debian", "12", "bookworm")
ALPINE = Distribution("alpine", "3.19.1")
UBUNTU = Distribution("ubuntu", "22.04", "jammy")


@pytest.mark.parametrize(
    ("kind", "distribution", "expected"),
    [
        (Kind.DPKG, DEBIAN, "Debian:12"),
        (Kind.DPKG, Distribution("debian", "12.5"), "Debian:12"),
        (Kind.DPKG, UBUNTU, "Ubuntu:22.04"),
        (Kind.APK, ALPINE, "Alpine:v3.19"),
        (Kind.PYTHON, DEBIAN, "PyPI"),
        (Kind.NPM, None, "npm"),
        (Kind.DPKG, None, ""),  # no os-release: no distribution's advisories apply
        (Kind.DPKG, Distribution("debian"), ""),  # sid has no VERSION_ID
        (Kind.APK, DEBIAN, ""),
        (Kind.DPKG, Distribution("kali", "2024.1"), ""),
    ],
)
def test_ecosystem_of(kind: Kind, distribution: Distribution | None, expected: str) -> None:
    assert ecosystems.ecosystem_of(kind, distribution) == expected


def test_advisory_ecosystems_drop_ubuntus_qualifiers() -> None:
    assert ecosystems.ecosystem("Ubuntu:22.04:LTS") == "Ubuntu:22.04"
    assert ecosystems.ecosystem("Ubuntu:Pro:18.04:LTS") == "Ubuntu:18.04"
    assert ecosystems.ecosystem("Debian:12") == "Debian:12"


def test_names_are_the_source_packages_and_pep_503_for_pypi() -> None:
    ssl = Package(Kind.DPKG, "libssl3", "3.0.11-1~deb12u2", source_name="openssl")
    assert ecosystems.match_name(ssl, "Debian:12") == "openssl"
    assert ecosystems.match_name(Package(Kind.DPKG, "bash", "5.2.15-2+b2"), "Debian:12") == "bash"
    assert ecosystems.match_name(Package(Kind.PYTHON, "Zope.Interface", "6.0"), "PyPI") == "zope-interface"
    assert ecosystems.normalized("PyPI", "zope_interface") == "zope-interface"
    assert ecosystems.namespace_of(Kind.DPKG, DEBIAN) == "debian:12"
    assert ecosystems.namespace_of(Kind.NPM, DEBIAN) == ""
