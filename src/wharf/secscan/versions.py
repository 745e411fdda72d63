"""Version comparison by each ecosystem's own rules, and OSV "affected" evaluation on top of it.

The comparisons themselves come from libraries made for them: `univers` (aboutcode's port of
dpkg, apk-tools, rpm's EVR, semver, Go and Maven's ComparableVersion rules) and `packaging` for
PEP 440. Nothing here re-implements an ordering; what is ours is the mapping from OSV ecosystem
names to schemes and the reading of OSV ranges (https://ossf.github.io/osv-schema/).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.version import InvalidVersion as _PepInvalid
from packaging.version import Version as _PepVersion
from univers import versions as _uv


class Scheme(enum.StrEnum):
    """A version ordering. Several OSV ecosystems share one (Debian and Ubuntu both use dpkg's)."""

    DPKG = "dpkg"
    APK = "apk"
    RPM = "rpm"
    PEP440 = "pep440"
    SEMVER = "semver"
    GO = "go"
    MAVEN = "maven"


class VersionError(ValueError):
    """A version string that its scheme cannot read."""

    def __init__(self, scheme: Scheme, version: str) -> None:
        super().__init__(f"not a {scheme} version: {version!r}")
        self.scheme = scheme
        self.version = version


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...


_UNIVERS: dict[Scheme, type[_uv.Version]] = {
    Scheme.DPKG: _uv.DebianVersion,
    Scheme.APK: _uv.AlpineLinuxVersion,
    Scheme.RPM: _uv.RpmVersion,
    Scheme.SEMVER: _uv.SemverVersion,
    Scheme.GO: _uv.GolangVersion,
    Scheme.MAVEN: _uv.MavenVersion,
}

# OSV ecosystem names (before any ":release" suffix) and the ordering their versions follow.
_ECOSYSTEMS: dict[str, Scheme] = {
    "Debian": Scheme.DPKG,
    "Ubuntu": Scheme.DPKG,
    "Alpine": Scheme.APK,
    "Wolfi": Scheme.APK,
    "Chainguard": Scheme.APK,
    "Red Hat": Scheme.RPM,
    "Rocky Linux": Scheme.RPM,
    "AlmaLinux": Scheme.RPM,
    "SUSE": Scheme.RPM,
    "openSUSE": Scheme.RPM,
    "Mageia": Scheme.RPM,
    "openEuler": Scheme.RPM,
    "PyPI": Scheme.PEP440,
    "npm": Scheme.SEMVER,
    "Go": Scheme.GO,
    "Maven": Scheme.MAVEN,
}


def scheme_for_ecosystem(ecosystem: str) -> Scheme | None:
    """The ordering of an OSV ecosystem ("Debian:12", "Alpine:v3.20", "PyPI"), None if unknown."""
    return _ECOSYSTEMS.get(ecosystem.split(":", 1)[0])


@functools.lru_cache(maxsize=65536)
def parse(scheme: Scheme, version: str) -> _Ordered:
    """The comparable form of `version`; cached, since a re-match reads the same few thousand
    version strings over and over (parsing is most of a comparison's cost)."""
    text = version.strip()
    try:
        if scheme is Scheme.PEP440:
            return _PepVersion(text)
        if scheme is Scheme.GO:
            # Go versions carry a "v"; OSV writes them without it. univers reads both.
            text = text.removeprefix("go")
        parsed: _Ordered = _UNIVERS[scheme](text)
    except (ValueError, _PepInvalid, TypeError, IndexError) as e:
        raise VersionError(scheme, version) from e
    if not text:
        raise VersionError(scheme, version)
    return parsed


def compare(scheme: Scheme, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b` in `scheme`. Raises VersionError."""
    x, y = parse(scheme, a), parse(scheme, b)
    return -1 if x < y else (1 if y < x else 0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one installed version is affected by one OSV `affected` entry."""

    affected: bool
    fixed: str | None = None
    """The version that fixes it (the `fixed` event closing the range it falls in), if known."""


NOT_AFFECTED = Verdict(False)


@dataclass(frozen=True, slots=True)
class _Bound:
    kind: str  # "introduced", "fixed" or "last_affected"
    version: str


def _bounds(events: Iterable[Mapping[str, Any]]) -> list[_Bound]:
    bounds = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            value = event.get(kind)
            if isinstance(value, str) and value:
                bounds.append(_Bound(kind, value))
    # `limit` events bound GIT ranges only; ECOSYSTEM and SEMVER ranges never need them.
    return bounds


def _intervals(scheme: Scheme, bounds: Iterable[_Bound]) -> list[tuple[_Bound, _Bound | None]]:
    """The range's [introduced, end) pairs, events sorted by version as the OSV spec says
    ("0" before everything). Raises VersionError for an event the scheme cannot read."""

    def key(bound: _Bound) -> tuple[int, Any]:
        if bound.kind == "introduced" and bound.version == "0":
            return (0, None)
        return (1, _Key(parse(scheme, bound.version)))

    ordered = sorted(bounds, key=key)
    intervals: list[tuple[_Bound, _Bound | None]] = []
    start: _Bound | None = None
    for bound in ordered:
        if bound.kind == "introduced":
            start = start or bound
        elif start is not None:
            intervals.append((start, bound))
            start = None
    if start is not None:
        intervals.append((start, None))
    return intervals


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class _Key:
    value: _Ordered

    def __lt__(self, other: _Key) -> bool:
        return bool(self.value < other.value)


def _inside(scheme: Scheme, version: _Ordered, start: _Bound, end: _Bound | None) -> bool:
    if start.version != "0" and version < parse(scheme, start.version):
        return False
    if end is None:
        return True
    limit = parse(scheme, end.version)
    return bool(version < limit) if end.kind == "fixed" else not limit < version


def in_range(scheme: Scheme, version: str, events: Sequence[Mapping[str, Any]]) -> Verdict:
    """Whether `version` falls in one OSV range's events (ECOSYSTEM or SEMVER).

    Raises VersionError when the installed version or an event cannot be read: the caller
    decides whether such a range is skipped or reported (`evaluate` skips it).
    """
    return _in_range(scheme, version, tuple(_bounds(events)))


@functools.lru_cache(maxsize=1 << 18)
def _in_range(scheme: Scheme, version: str, bounds: tuple[_Bound, ...]) -> Verdict:
    # Cached by strings: a re-match asks the same (installed version, range) questions for every
    # image built on the same base, and a dpkg comparison costs tens of microseconds in univers.
    installed = parse(scheme, version)
    for start, end in _intervals(scheme, bounds):
        if _inside(scheme, installed, start, end):
            return Verdict(True, end.version if end is not None and end.kind == "fixed" else None)
    return NOT_AFFECTED


def evaluate(scheme: Scheme, version: str, affected: Mapping[str, Any]) -> Verdict:
    """Whether `version` of a package is affected by one OSV `affected` entry: its `versions`
    list (exact versions) or any of its ECOSYSTEM or SEMVER `ranges`. GIT ranges name commits,
    which an installed package does not have, and are ignored. A range whose events `scheme`
    cannot read is skipped; an installed version it cannot read raises VersionError."""
    installed = parse(scheme, version)
    for entry in affected.get("ranges") or ():
        kind = entry.get("type")
        if kind not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = entry.get("events") or ()
        try:
            if kind == "SEMVER":
                verdict = in_range(Scheme.SEMVER, _for_semver(version), events)
            else:
                verdict = in_range(scheme, version, events)
        except VersionError:
            continue
        if verdict.affected:
            return verdict
    listed = affected.get("versions") or ()
    if any(isinstance(v, str) and _same(scheme, installed, v) for v in listed):
        return Verdict(True)
    return NOT_AFFECTED


def _for_semver(version: str) -> str:
    # SEMVER ranges are written without Go's "v" prefix (and semver itself has none).
    return version.removeprefix("v")


def _same(scheme: Scheme, installed: _Ordered, listed: str) -> bool:
    try:
        other = parse(scheme, listed)
    except VersionError:
        return False
    return not (installed < other or other < installed)
