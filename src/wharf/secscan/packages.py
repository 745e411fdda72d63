"""What an index finds: installed packages and the distribution they were installed on."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wharf.secscan.versions import Scheme


class Kind(enum.StrEnum):
    """Where a package was found; it decides the version ordering and the OSV ecosystem."""

    DPKG = "dpkg"
    APK = "apk"
    PYTHON = "python"
    NPM = "npm"
    RPM = "rpm"
    GO = "go"
    MAVEN = "maven"

    @property
    def scheme(self) -> Scheme:
        return _SCHEMES[self]

    @property
    def is_os(self) -> bool:
        """A distribution's package (its advisories are per release), not a language's."""
        return self in (Kind.DPKG, Kind.APK, Kind.RPM)


_SCHEMES = {
    Kind.DPKG: Scheme.DPKG,
    Kind.APK: Scheme.APK,
    Kind.RPM: Scheme.RPM,
    Kind.PYTHON: Scheme.PEP440,
    Kind.NPM: Scheme.SEMVER,
    Kind.GO: Scheme.GO,
    Kind.MAVEN: Scheme.MAVEN,
}


@dataclass(frozen=True, slots=True)
class Package:
    kind: Kind
    name: str
    version: str
    source_name: str = ""
    """The source package it was built from (dpkg `Source`, apk `o:` origin, rpm's source rpm):
    distributions' advisories name source packages, so matching needs it. Empty when it equals
    `name`."""
    source_version: str = ""
    """dpkg's `Source: name (version)` when the binary's version differs; empty otherwise."""
    arch: str = ""
    path: str = ""
    """The file that listed it, relative to the image root (a database or a metadata file)."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across layers: a package rewritten unchanged keeps the layer that added it."""
        return (self.kind, self.name, self.version, self.arch)


@dataclass(frozen=True, slots=True)
class Distribution:
    """/etc/os-release, as far as matching and the report need it."""

    id: str
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
