"""Software bills of materials from a stored index: CycloneDX 1.6 JSON and SPDX 2.3 JSON.

An SBOM is written from what indexing already stored (the packages, the layer that added each,
the distribution), never from the layers again, so it costs a database read. The documents are
deterministic for one index: the timestamps are the index's, and the identifiers derive from the
manifest digest and that time, so the same index always gives the same bytes (and an SBOM pushed
as a referrer twice is one manifest, not two).

Package URLs (purl) name each package as scanners and SBOM tools expect them:
`pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12`, `pkg:apk/alpine/...`,
`pkg:pypi/...`, `pkg:npm/...`; packageurl-python does the spec's encoding.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

CYCLONEDX_MEDIA_TYPE: Final = "application/vnd.cyclonedx+json"
SPDX_MEDIA_TYPE: Final = "application/spdx+json"

_NAMESPACE = uuid.UUID("6f0c2f3e-5b0e-4d8a-9d36-7a3c1f0e9b51")
"""Wharf's UUID namespace for the SBOMs' serial numbers (uuid5 of digest and index time)."""
_SPDX_ID = re.compile(r"[^A-Za-z0-9.-]")
_PEP503 = re.compile(r"[-_.]+")


class Format(enum.StrEnum):
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"

    @property
    def media_type(self) -> str:
        return CYCLONEDX_MEDIA_TYPE if self is Format.CYCLONEDX else SPDX_MEDIA_TYPE


@dataclass(frozen=True, slots=True)
class SbomPackage:
    """A package as the index stored it (`version_format` is the indexer's kind: dpkg, apk...)."""

    kind: str
    name: str
    version: str
    layer: str
    arch: str = ""
    source_name: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class SbomSubject:
    """The image an SBOM describes."""

    repository: str
    """namespace/name, as the registry serves it."""
    digest: str
    indexed_ms: int
    distribution: dict[str, str] | None
    tool_version: str
    document_base: str = "https://wharf.invalid/spdx"
    """The URI the SPDX document namespace starts with (the registry's own address, when known)."""


def purl(package: SbomPackage, distribution: dict[str, str] | None) -> str:
    """The package URL of `package` found on `distribution`."""
    from packageurl import PackageURL  # only SBOMs need it, never a pull or a push

    dist = distribution or {}
    dist_id = dist.get("id", "")
    qualifiers: dict[str, str] = {}
    if package.arch:
        qualifiers["arch"] = package.arch
    if package.kind in ("dpkg", "apk"):
        if dist_id and dist.get("version_id"):
            qualifiers["distro"] = f"{dist_id}-{dist['version_id']}"
        if package.source_name and package.source_name != package.name:
            qualifiers["upstream"] = package.source_name
        default_ns = "debian" if package.kind == "dpkg" else "alpine"
        kind = "deb" if package.kind == "dpkg" else "apk"
        url = PackageURL(kind, dist_id or default_ns, package.name, package.version, qualifiers or None)
    elif package.kind == "rpm":
        url = _rpm_purl(package, dist, qualifiers)
    elif package.kind == "go":
        # A module path's last element is the purl's name, the rest its namespace; the standard
        # library is `stdlib`, as the Go vulnerability database names it.
        namespace, _, name = package.name.rpartition("/")
        url = PackageURL("golang", namespace or None, name, package.version)
    elif package.kind == "maven":
        group, _, artifact = package.name.partition(":")
        url = PackageURL("maven", group or None, artifact or group, package.version)
    elif package.kind == "python":
        # The purl spec's pypi names are PEP 503-normalized and lowercase.
        url = PackageURL("pypi", None, _PEP503.sub("-", package.name).lower(), package.version)
    elif package.kind == "npm":
        scope, _, bare = package.name.rpartition("/")
        url = PackageURL("npm", scope or None, bare, package.version)
    else:
        url = PackageURL("generic", None, package.name, package.version, qualifiers or None)
    return str(url.to_string())


def _rpm_purl(package: SbomPackage, dist: dict[str, str], qualifiers: dict[str, str]) -> Any:
    """pkg:rpm: the version is `version-release`, the epoch a qualifier (the purl spec's rpm
    type); the namespace is the distribution's id."""
    from packageurl import PackageURL

    epoch, colon, rest = package.version.partition(":")
    version = package.version
    if colon and epoch.isdigit():
        version = rest
        if epoch != "0":
            qualifiers["epoch"] = epoch
    if dist.get("id") and dist.get("version_id"):
        qualifiers["distro"] = f"{dist['id']}-{dist['version_id']}"
    if package.source_name and package.source_name != package.name:
        qualifiers["upstream"] = package.source_name
    return PackageURL("rpm", dist.get("id") or None, package.name, version, qualifiers or None)


def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serial(subject: SbomSubject) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{subject.digest}@{subject.indexed_ms}")


def _image_name(subject: SbomSubject) -> str:
    return subject.repository.rsplit("/", 1)[-1]


def _image_purl(subject: SbomSubject) -> str:
    from packageurl import PackageURL

    qualifiers = {"repository_url": subject.repository}
    return str(PackageURL("oci", None, _image_name(subject), subject.digest, qualifiers).to_string())


def render(fmt: Format, subject: SbomSubject, packages: Sequence[SbomPackage]) -> dict[str, Any]:
    return cyclonedx(subject, packages) if fmt is Format.CYCLONEDX else spdx(subject, packages)


# CycloneDX 1.6 ----------------------------------------------------------------------------------


def cyclonedx(subject: SbomSubject, packages: Sequence[SbomPackage]) -> dict[str, Any]:
    """A CycloneDX 1.6 BOM: the image as the metadata's component, the distribution and every
    package as components, each with the layer that added it as a property."""
    image_ref = f"image:{subject.digest}"
    components: list[dict[str, Any]] = []
    dist = subject.distribution
    if dist and dist.get("id"):
        components.append(
            {
                "type": "operating-system",
                "bom-ref": f"os:{dist['id']}:{dist.get('version_id', '')}",
                "name": dist["id"],
                "version": dist.get("version_id", ""),
                "description": dist.get("pretty_name", ""),
            }
        )
    for i, p in enumerate(packages):
        url = purl(p, dist)
        properties = [
            {"name": "wharf:package:kind", "value": p.kind},
            {"name": "wharf:layer", "value": p.layer},
        ]
        if p.path:
            properties.append({"name": "wharf:package:path", "value": p.path})
        components.append(
            {
                "type": "library",
                "bom-ref": f"pkg:{i}:{url}",
                "name": p.name,
                "version": p.version,
                "purl": url,
                "properties": properties,
            }
        )
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": _serial(subject).urn,
        "version": 1,
        "metadata": {
            "timestamp": _timestamp(subject.indexed_ms),
            "tools": {
                "components": [{"type": "application", "name": "wharf", "version": subject.tool_version}]
            },
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": subject.repository,
                "version": subject.digest,
                "purl": _image_purl(subject),
            },
        },
        "components": components,
        "dependencies": [{"ref": image_ref, "dependsOn": [c["bom-ref"] for c in components]}],
    }


# SPDX 2.3 ---------------------------------------------------------------------------------------


def _spdx_id(prefix: str, text: str) -> str:
    return f"SPDXRef-{prefix}-{_SPDX_ID.sub('-', text)}"


def spdx(subject: SbomSubject, packages: Sequence[SbomPackage]) -> dict[str, Any]:
    """An SPDX 2.3 document: the image as the package the document describes, which CONTAINS
    every package found (each with its purl as a PACKAGE-MANAGER reference)."""
    image_id = _spdx_id("Image", subject.digest)
    image = {
        "SPDXID": image_id,
        "name": subject.repository,
        "versionInfo": subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [_purl_ref(_image_purl(subject))],
    }
    entries: list[dict[str, Any]] = [image]
    relationships = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
    ]
    dist = subject.distribution
    for i, p in enumerate(packages):
        package_id = _spdx_id("Package", f"{i}-{p.name}")
        entries.append(
            {
                "SPDXID": package_id,
                "name": p.name,
                "versionInfo": p.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "primaryPackagePurpose": "OPERATING-SYSTEM" if p.kind in ("dpkg", "apk") else "LIBRARY",
                "sourceInfo": f"added by layer {p.layer}" + (f" ({p.path})" if p.path else ""),
                "externalRefs": [_purl_ref(purl(p, dist))],
            }
        )
        relationships.append(
            {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": package_id}
        )
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{subject.repository}@{subject.digest}",
        "documentNamespace": f"{subject.document_base.rstrip('/')}/{subject.repository}/{_serial(subject)}",
        "creationInfo": {
            "created": _timestamp(subject.indexed_ms),
            "creators": [f"Tool: wharf-{subject.tool_version}"],
        },
        "documentDescribes": [image_id],
        "packages": entries,
        "relationships": relationships,
    }


def _purl_ref(url: str) -> dict[str, str]:
    return {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": url}
