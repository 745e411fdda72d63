"""Java archives built here with zipfile: plain jars, a Spring Boot fat jar, a web application,
and archives built to mislead (lying sizes, nesting too deep, not a zip at all)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest

from tests.unit.secscan.tarbuild import F, layer
from wharf.secscan import ecosystems
from wharf.secscan.errors import IndexingError
from wharf.secscan.formats import java
from wharf.secscan.indexer import Indexer, index_image
from wharf.secscan.layers import Limits
from wharf.secscan.packages import Kind, Package
from wharf.secscan.versions import Scheme, evaluate


def pom(group: str, artifact: str, version: str) -> tuple[str, bytes]:
    text = f"#Created by Apache Maven 3.8.6\ngroupId={group}\nartifactId={artifact}\nversion = {version}\n"
    return f"META-INF/maven/{group}/{artifact}/pom.properties", text.encode()


def jar(*members: tuple[str, bytes], stored: bool = False) -> bytes:
    out = io.BytesIO()
    how = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", how) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


LOG4J = jar(pom("org.apache.logging.log4j", "log4j-core", "2.14.1"), ("org/apache/Logger.class", b"\xca\xfe"))
JACKSON = jar(pom("com.fasterxml.jackson.core", "jackson-databind", "2.13.4"))


def packages(path: str, data: bytes) -> set[tuple[str, str, str]]:
    index = index_image([("sha256:java", layer([F(path, data)]))])
    return {(f.package.name, f.package.version, f.package.path) for f in index.packages}


def test_a_jar() -> None:
    assert packages("app/lib/log4j-core-2.14.1.jar", LOG4J) == {
        ("org.apache.logging.log4j:log4j-core", "2.14.1", "app/lib/log4j-core-2.14.1.jar")
    }


def test_a_spring_boot_fat_jar_one_level_deep() -> None:
    deeper = jar(("BOOT-INF/lib/inner.jar", jar(pom("org.example", "too-deep", "1.0"))), stored=True)
    fat = jar(
        pom("com.example", "service", "0.1.0"),
        ("BOOT-INF/lib/jackson-databind-2.13.4.jar", JACKSON),
        ("BOOT-INF/lib/log4j-core-2.14.1.jar", LOG4J),
        ("BOOT-INF/lib/wrapper.jar", deeper),
        stored=True,
    )
    assert packages("app.jar", fat) == {
        ("com.example:service", "0.1.0", "app.jar"),
        (
            "com.fasterxml.jackson.core:jackson-databind",
            "2.13.4",
            "app.jar!/BOOT-INF/lib/jackson-databind-2.13.4.jar",
        ),
        ("org.apache.logging.log4j:log4j-core", "2.14.1", "app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar"),
    }


def test_a_web_application_archive() -> None:
    war = jar(("WEB-INF/lib/log4j-core-2.14.1.jar", LOG4J), ("WEB-INF/web.xml", b"<web-app/>"))
    found = packages("usr/local/tomcat/webapps/ROOT.war", war)
    assert {name for name, _, _ in found} == {"org.apache.logging.log4j:log4j-core"}


def test_a_shaded_jar_reports_every_artifact_folded_in() -> None:
    shaded = jar(pom("org.example", "app", "1.0"), pom("com.google.guava", "guava", "31.1-jre"))
    assert {name for name, _, _ in packages("app.jar", shaded)} == {
        "org.example:app",
        "com.google.guava:guava",
    }


def test_incomplete_pom_properties_and_other_files_are_not_artifacts() -> None:
    odd = jar(
        ("META-INF/maven/org.example/x/pom.properties", b"groupId=org.example\nartifactId=x\n"),
        ("META-INF/maven/org.example/y/pom.xml", b"<project/>"),
        ("META-INF/maven/pom.properties", b"groupId=a\nartifactId=b\nversion=1\n"),
    )
    assert packages("odd.jar", odd) == set()


def test_a_broken_archive_is_skipped_with_a_warning() -> None:
    indexer = Indexer()
    indexer.add_layer(
        "sha256:java", layer([F("app.jar", b"PK\x03\x04 not really a zip"), F("ok.jar", LOG4J)])
    )
    result = indexer.result()
    assert [f.package.name for f in result.packages] == ["org.apache.logging.log4j:log4j-core"]
    assert len(result.warnings) == 1 and result.warnings[0].startswith("app.jar skipped: not a readable zip")


def test_an_archive_over_the_spool_limit_is_skipped_with_a_warning() -> None:
    indexer = Indexer(Limits(spool_bytes=100))
    indexer.add_layer("sha256:java", layer([F("app.jar", LOG4J)]))
    assert indexer.result().warnings == (f"app.jar skipped: {len(LOG4J)} bytes, over the limit",)


def test_a_large_archive_is_read_from_a_temporary_file() -> None:
    index = index_image([("sha256:java", layer([F("app.jar", LOG4J)]))], Limits(memory_bytes=64))
    assert [f.package.name for f in index.packages] == ["org.apache.logging.log4j:log4j-core"]


def _lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """The archive with `name`'s uncompressed size rewritten in its local and central headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(name).header_offset
    out[local + 22 : local + 26] = size.to_bytes(4, "little")
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        length = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + length] == name.encode():
            out[central + 24 : central + 28] = size.to_bytes(4, "little")
        central = data.find(b"PK\x01\x02", central + 1)
    return bytes(out)


def test_a_nested_archive_lying_about_its_size_is_not_trusted() -> None:
    # A deflated nested "jar" of 200 MiB of zeros declared as 1 KiB: the read stops at the
    # declared size (zipfile then finds the checksum wrong), nothing big is ever held.
    bomb = jar(("BOOT-INF/lib/bomb.jar", bytes(200 << 20)), pom("com.example", "outer", "1.0"))
    lying = _lie_about_size(bomb, "BOOT-INF/lib/bomb.jar", 1024)
    del bomb
    tracemalloc.start()
    try:
        assert {name for name, _, _ in packages("app.jar", lying)} == {"com.example:outer"}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_too_many_entries() -> None:
    # The limit lowered to 50: the check is the same, the archive 2000 times smaller.
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as z:
        for i in range(51):
            z.writestr(f"f{i}", b"")
    data = many.getvalue()
    with pytest.raises(IndexingError, match="lists 51 entries"):
        java.parse(io.BytesIO(data), len(data), "many.jar", max_members=50)
    assert java.parse(io.BytesIO(data), len(data), "many.jar", max_members=51) == []


# GHSA-jfh8-c2jp-5v3q (CVE-2021-44228, Log4Shell), log4j-core's ranges.
LOG4SHELL = {
    "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
    "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.4"}, {"fixed": "2.12.2"}]},
    ],
}


@pytest.mark.parametrize(
    ("installed", "fixed"),
    [("2.14.1", "2.15.0"), ("2.0-rc1", "2.3.1"), ("2.12.1", "2.12.2"), ("2.15.0", None), ("2.12.2", None)],
)
def test_maven_matching(installed: str, fixed: str | None) -> None:
    verdict = evaluate(Scheme.MAVEN, installed, LOG4SHELL)
    assert (verdict.fixed if verdict.affected else None) == fixed


def test_maven_packages_are_in_the_maven_ecosystem() -> None:
    package = Package(Kind.MAVEN, "org.apache.logging.log4j:log4j-core", "2.14.1")
    assert ecosystems.ecosystem_of(Kind.MAVEN, None) == "Maven"
    assert ecosystems.match_name(package, "Maven") == "org.apache.logging.log4j:log4j-core"
