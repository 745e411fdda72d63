"""SBOMs from a stored index: CycloneDX 1.6 checked against the official JSON schema (shipped in
cyclonedx-python-lib), SPDX 2.3 against the fields its specification requires, and the purls."""

from __future__ import annotations

import json
import re

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from wharf.secscan import sbom
from wharf.secscan.sbom import Format, SbomPackage, SbomSubject

DEBIAN = {"id": "debian", "version_id": "12", "version_codename": "bookworm", "pretty_name": "Debian 12"}
LAYER = "sha256:" + "1" * 64
SUBJECT = SbomSubject("acme/app", "sha256:" + "a" * 64, 1_796_000_000_000, DEBIAN, "0.1.0")
PACKAGES = [
    SbomPackage("dpkg", "libssl3", "3.0.11-1~deb12u2", LAYER, "amd64", "openssl", "var/lib/dpkg/status"),
    SbomPackage("dpkg", "tzdata", "1:2024a-0+deb12u1", LAYER, "all"),
    SbomPackage(
        "python", "Jinja2", "3.1.2", LAYER, path="usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info"
    ),
    SbomPackage("npm", "@babel/core", "7.24.0", LAYER),
    SbomPackage("npm", "lodash", "4.17.20", LAYER),
]


@pytest.mark.parametrize(
    ("package", "distribution", "expected"),
    [
        (
            PACKAGES[0],
            DEBIAN,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
        ),
        (PACKAGES[1], DEBIAN, "pkg:deb/debian/tzdata@1:2024a-0%2Bdeb12u1?arch=all&distro=debian-12"),
        (PACKAGES[2], DEBIAN, "pkg:pypi/jinja2@3.1.2"),
        (PACKAGES[3], None, "pkg:npm/%40babel/core@7.24.0"),
        (
            SbomPackage("apk", "musl", "1.2.5-r0", LAYER, "x86_64"),
            {"id": "alpine", "version_id": "3.20.3"},
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3",
        ),
        (SbomPackage("dpkg", "bash", "5.2", LAYER), None, "pkg:deb/debian/bash@5.2"),
        (
            SbomPackage("rpm", "openssl-libs", "1:3.0.7-27.el9", LAYER, "x86_64", "openssl"),
            {"id": "rhel", "version_id": "9.4"},
            "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1&upstream=openssl",
        ),
        (SbomPackage("rpm", "bash", "5.1.8-9.el9", LAYER), None, "pkg:rpm/bash@5.1.8-9.el9"),
        (
            SbomPackage("go", "github.com/sirupsen/logrus", "v1.9.3", LAYER),
            None,
            "pkg:golang/github.com/sirupsen/logrus@v1.9.3",
        ),
        (SbomPackage("go", "stdlib", "v1.22.5", LAYER), None, "pkg:golang/stdlib@v1.22.5"),
        (
            SbomPackage("maven", "org.apache.logging.log4j:log4j-core", "2.14.1", LAYER),
            None,
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
    ],
)
def test_purls(package: SbomPackage, distribution: dict[str, str] | None, expected: str) -> None:
    made = sbom.purl(package, distribution)
    assert made == expected
    parsed = PackageURL.from_string(made)  # and the purl library reads back what it wrote
    epoch = (parsed.qualifiers or {}).get("epoch")
    assert (f"{epoch}:{parsed.version}" if epoch else parsed.version) == package.version


def test_cyclonedx_is_valid_against_the_official_schema() -> None:
    doc = sbom.render(Format.CYCLONEDX, SUBJECT, PACKAGES)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is None
    assert doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["type"] == "container"
    assert doc["metadata"]["component"]["version"] == SUBJECT.digest
    names = [(c["type"], c["name"]) for c in doc["components"]]
    assert names[0] == ("operating-system", "debian")
    assert ("library", "libssl3") in names
    libssl = next(c for c in doc["components"] if c["name"] == "libssl3")
    assert {"name": "wharf:layer", "value": LAYER} in libssl["properties"]
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(set(refs)) == len(refs)


def test_cyclonedx_without_packages_or_distribution_is_valid() -> None:
    subject = SbomSubject("acme/empty", "sha256:" + "b" * 64, 0, None, "0.1.0")
    doc = sbom.cyclonedx(subject, [])
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is None
    assert doc["components"] == []


def test_the_same_index_gives_the_same_bytes() -> None:
    for fmt in Format:
        one = json.dumps(sbom.render(fmt, SUBJECT, PACKAGES))
        assert one == json.dumps(sbom.render(fmt, SUBJECT, PACKAGES))
    later = SbomSubject(SUBJECT.repository, SUBJECT.digest, SUBJECT.indexed_ms + 1, DEBIAN, "0.1.0")
    assert (
        sbom.cyclonedx(later, PACKAGES)["serialNumber"] != sbom.cyclonedx(SUBJECT, PACKAGES)["serialNumber"]
    )


_SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")


def test_spdx_has_what_spdx_2_3_requires() -> None:
    doc = sbom.render(Format.SPDX, SUBJECT, PACKAGES)
    # Document creation information (SPDX 2.3 clause 6): the mandatory fields.
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["name"]
    assert re.match(r"^https?://[^#]+$", doc["documentNamespace"])
    assert doc["creationInfo"]["creators"] == ["Tool: wharf-0.1.0"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["creationInfo"]["created"])
    # Package information (clause 7): name, SPDXID, downloadLocation mandatory; ids unique.
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(set(ids)) == len(ids) == len(PACKAGES) + 1
    for p in doc["packages"]:
        assert _SPDX_ID.match(p["SPDXID"]), p["SPDXID"]
        assert p["name"] and p["downloadLocation"] == "NOASSERTION"
        assert p["filesAnalyzed"] is False  # so no verification code is required
        (ref,) = p["externalRefs"]
        assert ref["referenceCategory"] == "PACKAGE-MANAGER" and ref["referenceType"] == "purl"
        PackageURL.from_string(ref["referenceLocator"])
    image = doc["packages"][0]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert doc["documentDescribes"] == [image["SPDXID"]]
    # Every relationship names elements of the document.
    known = {*ids, "SPDXRef-DOCUMENT"}
    for r in doc["relationships"]:
        assert r["spdxElementId"] in known and r["relatedSpdxElement"] in known
    contained = [r for r in doc["relationships"] if r["relationshipType"] == "CONTAINS"]
    assert len(contained) == len(PACKAGES)


def test_media_types() -> None:
    assert Format.CYCLONEDX.media_type == "application/vnd.cyclonedx+json"
    assert Format.SPDX.media_type == "application/spdx+json"
