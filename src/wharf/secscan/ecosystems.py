"""Which OSV ecosystem a found package's advisories are filed under, and the name they use.

A distribution's advisories name source packages (Debian's `openssl`, not `libssl3`) in an
ecosystem carrying the release ("Debian:12", "Alpine:v3.20"); a language's name the package in
one ecosystem ("PyPI", "npm"), PyPI's under PEP 503's normalized name. Both sides of a match, the
stored packages and the stored advisories, go through here, so they meet on the same strings.
"""

from __future__ import annotations

import re

from wharf.secscan.packages import Distribution, Kind, Package

_PEP503 = re.compile(r"[-_.]+")


def ecosystem_of(kind: Kind, distribution: Distribution | None) -> str:
    """The OSV ecosystem of a package found as `kind` on `distribution`; "" when unknown (an OS
    package on a distribution Wharf has no advisories for, or none named by os-release)."""
    if kind is Kind.PYTHON:
        return "PyPI"
    if kind is Kind.NPM:
        return "npm"
    if kind is Kind.GO:
        return "Go"
    if kind is Kind.MAVEN:
        return "Maven"
    if distribution is None or not distribution.version_id:
        return ""
    if kind is Kind.DPKG and distribution.id == "debian":
        # OSV's Debian ecosystems carry the major release: "Debian:12" for 12.5.
        return "Debian:" + distribution.version_id.split(".", 1)[0]
    if kind is Kind.DPKG and distribution.id == "ubuntu":
        return "Ubuntu:" + distribution.version_id
    if kind is Kind.APK and distribution.id == "alpine":
        # Alpine's secdb, and OSV after it, key by branch: "Alpine:v3.20" for 3.20.3.
        return "Alpine:v" + ".".join(distribution.version_id.split(".")[:2])
    if kind is Kind.RPM:
        return _rpm_ecosystem(distribution)
    return ""


# Distributions whose advisories OSV carries per major release ("Rocky Linux:9" for 9.3). Fedora
# and CentOS publish none in OSV: their packages are found and reported, and match nothing.
_RPM_ECOSYSTEMS = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux"}
RED_HAT_STREAM = "Red Hat:enterprise_linux:"


def _rpm_ecosystem(distribution: Distribution) -> str:
    major = distribution.version_id.split(".", 1)[0]
    if distribution.id == "rhel":
        # Red Hat files advisories per product stream (a CPE); a RHEL or UBI image follows the
        # main stream of its major release, whatever repository (BaseOS, AppStream) a package
        # came from: see `ecosystem` for the advisories' side.
        return RED_HAT_STREAM + major
    name = _RPM_ECOSYSTEMS.get(distribution.id)
    return f"{name}:{major}" if name else ""


def namespace_of(kind: Kind, distribution: Distribution | None) -> str:
    """Quay's NamespaceName of an OS package ("debian:12"); "" for a language package."""
    if not kind.is_os or distribution is None:
        return ""
    return f"{distribution.id}:{distribution.version_id}" if distribution.version_id else distribution.id


def ecosystem(name: str) -> str:
    """An advisory's ecosystem as packages are given it: Ubuntu's ":LTS" and ":Pro" qualifiers
    dropped ("Ubuntu:22.04:LTS" is "Ubuntu:22.04")."""
    if name.startswith("Ubuntu:"):
        parts = [p for p in name.split(":")[1:] if p not in ("LTS", "Pro")]
        return ":".join(["Ubuntu", *parts])
    if name.startswith(RED_HAT_STREAM):
        # "Red Hat:enterprise_linux:9::appstream" and "...:9::baseos" are the one main stream of
        # RHEL 9; extended streams ("rhel_eus:9.2", "enterprise_linux:9.2") are kept apart.
        release, _, _repository = name[len(RED_HAT_STREAM) :].partition("::")
        return RED_HAT_STREAM + release
    return name


def normalized(ecosystem_name: str, package: str) -> str:
    """A package name as matching compares it within `ecosystem_name`."""
    if ecosystem_name == "PyPI":
        return _PEP503.sub("-", package).lower()
    return package


def match_name(package: Package, ecosystem_name: str) -> str:
    """The name advisories give `package`: its source package's for a distribution's."""
    name = package.name
    # Red Hat's advisories name binary rpms (and source ones); every other distribution's name
    # source packages.
    binary = package.kind is Kind.RPM and ecosystem_name.startswith("Red Hat")
    if package.kind.is_os and package.source_name and not binary:
        name = package.source_name
    return normalized(ecosystem_name, name)
