"""Security scanning end to end: images built here from tar layers are pushed, the push queues
their indexing, the job queue indexes them from the blob store (issue 16)."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from tests.integration.jobs import osv_samples
from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import PW, World
from tests.unit.secscan import rpmdb
from tests.unit.secscan.samples import (
    ALPINE_OS_RELEASE,
    APK_INSTALLED,
    DEBIAN_OS_RELEASE,
    DPKG_OPENSSL,
    DPKG_STATUS,
    REQUESTS_METADATA,
)
from tests.unit.secscan.tarbuild import F, tar
from wharf.config import Settings, load_settings
from wharf.core import repositories
from wharf.core import secscan as store
from wharf.jobs import runner
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.runtime import Runtime
from wharf.secscan.indexer import INDEXER_VERSION
from wharf.services import secscan
from wharf.services import secscan_update as updater
from wharf.storage.base import blob_path

REPO = "acme/app"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

BASE = gzip.compress(
    tar([F("etc/os-release", DEBIAN_OS_RELEASE.encode()), F("var/lib/dpkg/status", DPKG_STATUS.encode())])
)
# Not a tar stream: the indexer refuses it (mtime=0: the same bytes whenever it is built).
BROKEN = gzip.compress(b"x" * 700, mtime=0)
# The next layer installs libssl3: dpkg rewrites its status file, the other packages stay.
OPENSSL = gzip.compress(tar([F("var/lib/dpkg/status", (DPKG_STATUS + DPKG_OPENSSL).encode())]))


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None, storage_config: dict[str, object]
) -> Settings:
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **storage_config, **getattr(request, "param", {})}
    return load_settings(None, overrides, environ={})


async def drain(rt: Runtime) -> None:
    """Run every job that is ready, as the workers would."""
    while await runner.run_once(rt):
        pass


async def push_image(
    reg: RegistryClient,
    repo: str,
    tag: str,
    layers: list[bytes],
    *,
    config_type: str = mt.OCI_CONFIG,
    layer_type: str = GZIP_LAYER,
) -> bytes:
    """Push an image; returns its manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": await _blob(reg, repo, config), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": await _blob(reg, repo, x), "size": len(x)} for x in layers
        ],
    }
    body = json.dumps(manifest).encode()
    r = await reg.push_manifest(repo, tag, body)
    assert r.status_code == 201, r.text
    return body


async def _blob(reg: RegistryClient, repo: str, data: bytes) -> str:
    return await reg.push_blob(repo, data, user="owner", password=PW)


async def test_a_pushed_image_is_indexed_with_the_layer_that_added_each_package(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    assert (await rt.db.read(store.status)).waiting == 1  # the push queued it, and did no more
    assert await rt.db.read(store.get_index, digest) is None

    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "scanned" and index.reason is None
    assert index.distribution is not None and index.distribution["version_id"] == "12"
    found = {p.package.name: p.package for p in await rt.db.read(store.packages_of, digest)}
    assert sorted(found) == ["base-files", "libblkid1", "libc6", "libssl3"]
    assert found["libc6"].added_by == sha256(BASE)
    assert found["libssl3"].added_by == sha256(OPENSSL)
    ssl = found["libssl3"]
    assert (ssl.version, ssl.version_format, ssl.ecosystem, ssl.match_name, ssl.namespace) == (
        "3.0.11-1~deb12u2",
        "dpkg",
        "Debian:12",
        "openssl",
        "debian:12",
    )
    # binNMU: the advisories' versions are the source package's.
    assert (found["libblkid1"].match_name, found["libblkid1"].source_version) == ("util-linux", "2.38.1-5")


async def test_artifacts_lists_and_broken_layers(world: World) -> None:
    rt = world.reg.wharf.rt
    chart = sha256(
        await push_image(
            world.reg,
            REPO,
            "chart",
            [gzip.compress(b"a chart")],
            config_type=HELM_CONFIG,
            layer_type=HELM_LAYER,
        )
    )
    image_body = await push_image(world.reg, REPO, "debian", [BASE])
    image = sha256(image_body)
    broken = sha256(await push_image(world.reg, REPO, "broken", [BROKEN]))
    child = {"mediaType": mt.OCI_MANIFEST, "digest": image, "size": len(image_body)}
    index_body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child]}).encode()
    r = await world.reg.push_manifest(REPO, "multi", index_body, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    await drain(rt)

    statuses = {d: await rt.db.read(store.get_index, d) for d in (chart, image, broken, sha256(index_body))}
    assert {d: (i.status if i else None) for d, i in statuses.items()} == {
        chart: "unsupported",
        image: "scanned",
        broken: "failed",
        sha256(index_body): "unsupported",
    }
    chart_index, broken_index = statuses[chart], statuses[broken]
    assert chart_index is not None and HELM_CONFIG in (chart_index.reason or "")
    assert broken_index is not None and sha256(BROKEN) in (broken_index.reason or "")


async def test_the_backfill_indexes_what_has_no_index(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    await drain(rt)
    assert await rt.db.write(store.forget_index, digest)  # as if pushed before scanning existed

    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "scanned"
    await runner.HANDLERS["secscan_backfill"](rt, {})  # nothing left to do
    assert (await rt.db.read(store.status)).waiting == 0


async def test_osv_data_is_imported_once_and_rematched_without_reading_layers(
    world: World, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    await drain(rt)
    ids = {p.package.name: p.id for p in await rt.db.read(store.packages_of, digest)}

    data = osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    seen: list[int] = []
    result = await asyncio.to_thread(updater.update, rt.db, data, seen.append)
    assert (result.read, result.imported, result.unchanged, result.skipped) == (3, 3, 0, 0)
    assert seen == [3]
    assert (result.packages_rematched, result.matches) == (2, 2)  # libssl3 and libc6

    report = await rt.db.read(store.report, digest)
    assert report is not None
    found = {p: [(v.osv_id, v.fixed_by, v.severity) for v in vs] for p, vs in report.vulnerabilities.items()}
    assert found == {
        ids["libssl3"]: [("DEBIAN-CVE-2024-0727", "3.0.13-1~deb12u1", "Medium")],
        ids["libc6"]: [("DEBIAN-CVE-2024-2961", "2.36-9+deb12u7", "High")],
    }

    # The same data again: nothing is written or re-matched.
    again = await asyncio.to_thread(updater.update, rt.db, data)
    assert (again.imported, again.unchanged, again.packages_rematched) == (0, 3, 0)

    # Debian moves the fix below the installed version: only that record is imported, and the
    # stored index is re-matched from its packages (its layers are gone from storage meanwhile).
    for layer in (BASE, OPENSSL):
        await rt.store.delete(blob_path(Digest.parse(sha256(layer))))
    moved = {**osv_samples.OPENSSL_PKCS12, "modified": "2025-01-01T00:00:00Z"}
    moved["affected"] = [
        {
            "package": {"name": "openssl", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}],
        }
    ]
    directory = tmp_path / "osv"
    directory.mkdir()
    for record in [moved, osv_samples.OPENSSL_X400, osv_samples.GLIBC_ICONV]:
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    (directory / "broken.json").write_text("{not json")
    third = await asyncio.to_thread(updater.update, rt.db, directory)
    assert (third.read, third.imported, third.unchanged, third.skipped) == (4, 1, 2, 1)
    assert third.packages_rematched == 1
    report = await rt.db.read(store.report, digest)
    assert report is not None and list(report.vulnerabilities) == [ids["libc6"]]
    status = await rt.db.read(store.status)
    assert (status.vulnerabilities, status.matches, status.newest_modified) == (3, 1, "2025-01-01T00:00:00Z")


async def test_the_api_reports_as_quay_does(world: World, tmp_path: Path) -> None:
    rt = world.reg.wharf.rt
    http = world.reg.http
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    url = f"/api/v1/repository/{REPO}/manifest/{digest}/security?vulnerabilities=true"
    assert (await http.get(url, headers=world.api["reader"])).json() == {"status": "queued", "data": None}
    await drain(rt)
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    )

    r = await http.get(url, headers=world.api["reader"])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "scanned"
    layer = answer["data"]["Layer"]
    assert {k: layer[k] for k in ("Name", "ParentName", "NamespaceName", "IndexedByVersion")} == {
        "Name": digest,
        "ParentName": "",
        "NamespaceName": "",
        "IndexedByVersion": INDEXER_VERSION,
    }
    features = {f["Name"]: f for f in layer["Features"]}
    assert sorted(features) == ["base-files", "libblkid1", "libc6", "libssl3"]
    assert features["base-files"] == {
        "Name": "base-files",
        "VersionFormat": "dpkg",
        "NamespaceName": "debian:12",
        "AddedBy": sha256(BASE),
        "Version": "12.4+deb12u5",
        "BaseScores": [],
        "CVEIds": [],
        "Vulnerabilities": [],
    }
    ssl = features["libssl3"]
    assert {k: v for k, v in ssl.items() if k != "Vulnerabilities"} == {
        "Name": "libssl3",
        "VersionFormat": "dpkg",
        "NamespaceName": "debian:12",
        "AddedBy": sha256(OPENSSL),
        "Version": "3.0.11-1~deb12u2",
        "BaseScores": [5.5],
        "CVEIds": ["CVE-2024-0727"],
    }
    assert ssl["Vulnerabilities"] == [
        {
            "Severity": "Medium",
            "NamespaceName": "Debian:12",
            "Link": "https://security-tracker.debian.org/tracker/CVE-2024-0727",
            "FixedBy": "3.0.13-1~deb12u1",
            "Description": osv_samples.OPENSSL_PKCS12["details"],
            "Name": "DEBIAN-CVE-2024-0727",
            "Metadata": {
                "UpdatedBy": "osv/Debian:12",
                "RepoName": None,
                "RepoLink": None,
                "DistroName": "debian",
                "DistroVersion": "12",
                "NVD": {"CVSSv3": {"Vectors": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "Score": 5.5}},
            },
        }
    ]
    [iconv] = features["libc6"]["Vulnerabilities"]
    assert (iconv["Name"], iconv["Severity"], iconv["FixedBy"]) == (
        "DEBIAN-CVE-2024-2961",
        "High",
        "2.36-9+deb12u7",
    )
    # vulnerabilities=false answers the same, as Quay's Clair v4 model does.
    plain = await http.get(url.split("?")[0], headers=world.api["reader"])
    assert plain.json() == answer


async def test_the_api_reports_failed_and_unsupported(world: World) -> None:
    rt = world.reg.wharf.rt
    chart = sha256(
        await push_image(
            world.reg,
            REPO,
            "chart",
            [gzip.compress(b"a chart")],
            config_type=HELM_CONFIG,
            layer_type=HELM_LAYER,
        )
    )
    broken = sha256(await push_image(world.reg, REPO, "broken", [BROKEN]))
    await drain(rt)
    for digest, status in ((chart, "unsupported"), (broken, "failed")):
        r = await world.reg.http.get(
            f"/api/v1/repository/{REPO}/manifest/{digest}/security", headers=world.api["owner"]
        )
        assert r.json() == {"status": status, "data": None}


@pytest.mark.parametrize("settings", [{"FEATURE_SECURITY_SCANNER": False}], indirect=True)
async def test_with_the_scanner_off_nothing_is_indexed(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    assert (await rt.db.read(store.status)).waiting == 0  # the push queued nothing
    assert "secscan_backfill" not in runner.periodic(rt)
    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/manifest/{digest}/security", headers=world.api["owner"]
    )
    assert r.json() == {"status": "unsupported", "data": None}


async def test_a_layer_missing_from_storage_fails_the_index_with_its_name(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    await rt.store.delete(blob_path(Digest.parse(sha256(OPENSSL))))
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "failed"
    assert index.reason is not None and index.reason.startswith(f"layer {sha256(OPENSSL)}: not in storage")


async def test_a_missing_layer_is_retried_with_a_backoff_until_it_is_there(
    world: World, clock: Clock
) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    path = blob_path(Digest.parse(sha256(OPENSSL)))
    await rt.store.delete(path)
    await drain(rt)
    first = await rt.db.read(store.get_index, digest)
    assert first is not None and first.status == "failed" and first.attempts == 1
    assert secscan.retry_delay_ms(1) == 60_000
    assert first.retry_after_ms == first.indexed_ms + 60_000
    assert (first.reason or "").endswith("(attempt 1; retried later)")

    await runner.HANDLERS["secscan_backfill"](rt, {})  # not due yet: nothing queued
    assert (await rt.db.read(store.status)).waiting == 0
    clock.advance(60)
    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    second = await rt.db.read(store.get_index, digest)
    assert second is not None and second.attempts == 2 and second.created_ms == first.created_ms
    assert second.retry_after_ms == second.indexed_ms + 4 * 60_000

    await rt.store.put_bytes(path, OPENSSL)  # the store has it again
    clock.advance(4 * 60)
    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    done = await rt.db.read(store.get_index, digest)
    assert done is not None and done.status == "scanned"
    assert (done.attempts, done.retry_after_ms) == (0, None)


async def test_retries_of_a_passing_failure_are_bounded(world: World, clock: Clock) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    await rt.store.delete(blob_path(Digest.parse(sha256(OPENSSL))))
    await drain(rt)
    for _ in range(secscan.RETRIES):
        clock.advance(24 * 3600)
        await runner.HANDLERS["secscan_backfill"](rt, {})
        await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.attempts == secscan.RETRIES + 1
    assert index.retry_after_ms is None and (index.reason or "").endswith("no retry left)")
    clock.advance(24 * 3600)
    await runner.HANDLERS["secscan_backfill"](rt, {})
    assert (await rt.db.read(store.status)).waiting == 0


async def test_a_broken_layer_is_not_retried(world: World, clock: Clock) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "broken", [BROKEN]))
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "failed"
    assert (index.attempts, index.retry_after_ms) == (0, None)
    clock.advance(24 * 3600)
    await runner.HANDLERS["secscan_backfill"](rt, {})
    assert (await rt.db.read(store.status)).waiting == 0


async def test_an_index_by_an_older_indexer_is_redone_in_the_background(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    await drain(rt)
    await rt.db.write(store.record_index, digest, "scanned", INDEXER_VERSION - 1)  # as an old Wharf left it
    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.indexer_version == INDEXER_VERSION and index.status == "scanned"
    assert len(await rt.db.read(store.packages_of, digest)) > 0


async def test_a_rescan_queues_the_repositorys_images_again(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    await drain(rt)
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    assert await rt.db.write(store.rescan, repo.id, "sha256:" + "0" * 64) == []
    assert await rt.db.write(store.rescan, repo.id) == [digest]
    assert await rt.db.read(store.get_index, digest) is None  # queued again
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "scanned"


async def test_alpine_and_python_packages_are_matched_in_their_ecosystems(
    world: World, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    layer = gzip.compress(
        tar(
            [
                F("etc/os-release", ALPINE_OS_RELEASE.encode()),
                F("lib/apk/db/installed", APK_INSTALLED.encode()),
                F(
                    "usr/lib/python3.11/site-packages/requests-2.28.1.dist-info/METADATA",
                    REQUESTS_METADATA.encode(),
                ),
            ]
        )
    )
    digest = sha256(await push_image(world.reg, REPO, "alpine", [layer]))
    await drain(rt)
    data = osv_samples.write_zip(
        tmp_path / "all.zip", [osv_samples.ALPINE_OPENSSL, osv_samples.REQUESTS_PROXY]
    )
    await asyncio.to_thread(updater.update, rt.db, data)

    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/manifest/{digest}/security?vulnerabilities=true",
        headers=world.api["reader"],
    )
    features = {f["Name"]: f for f in r.json()["data"]["Layer"]["Features"]}
    assert sorted(features) == ["libcrypto3", "musl", "requests"]
    assert features["musl"]["Vulnerabilities"] == []
    crypto = features["libcrypto3"]
    assert (crypto["VersionFormat"], crypto["NamespaceName"], crypto["CVEIds"], crypto["BaseScores"]) == (
        "apk",
        "alpine:3.19.1",
        ["CVE-2024-2511"],
        [],
    )
    [alpine] = crypto["Vulnerabilities"]
    assert (alpine["Name"], alpine["Severity"], alpine["FixedBy"], alpine["NamespaceName"]) == (
        "ALPINE-CVE-2024-2511",
        "Unknown",
        "3.1.4-r6",
        "Alpine:v3.19",
    )
    assert (alpine["Metadata"]["DistroName"], alpine["Metadata"]["DistroVersion"]) == ("alpine", "3.19.1")
    requests = features["requests"]
    assert (
        requests["VersionFormat"],
        requests["NamespaceName"],
        requests["CVEIds"],
        requests["BaseScores"],
    ) == (
        "python",
        "",
        ["CVE-2023-32681"],
        [6.1],
    )
    [ghsa] = requests["Vulnerabilities"]
    assert (ghsa["Name"], ghsa["Severity"], ghsa["FixedBy"], ghsa["Description"]) == (
        "GHSA-j8r2-6x86-q33q",
        "Medium",
        "2.31.0",
        osv_samples.REQUESTS_PROXY["summary"],
    )
    assert ghsa["Link"] == " ".join(ref["url"] for ref in osv_samples.REQUESTS_PROXY["references"])
    assert (ghsa["Metadata"]["DistroName"], ghsa["Metadata"]["DistroVersion"]) == (None, None)


# Shaped as Red Hat's OSV records are: one per advisory, `affected` per product stream (a CPE)
# and binary rpm, EVRs with their epoch. RHSA-2024:2447 updated RHEL 9's openssl to 3.0.7-27.
RHSA_OPENSSL: dict[str, Any] = {
    "id": "RHSA-2024:2447",
    "modified": "2024-05-01T00:00:00Z",
    "aliases": ["CVE-2023-5678"],
    "summary": "openssl security and bug fix update",
    "affected": [
        {
            "package": {"ecosystem": f"Red Hat:enterprise_linux:9::{repository}", "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}],
        }
        for repository, name in [
            ("baseos", "openssl-libs"),
            ("baseos", "openssl"),
            ("appstream", "openssl-perl"),
        ]
    ],
    "references": [{"type": "ADVISORY", "url": "https://access.redhat.com/errata/RHSA-2024:2447"}],
}
# GHSA-jfh8-c2jp-5v3q (Log4Shell), log4j-core's ranges.
LOG4SHELL: dict[str, Any] = {
    "id": "GHSA-jfh8-c2jp-5v3q",
    "modified": "2024-07-24T21:04:02Z",
    "aliases": ["CVE-2021-44228"],
    "summary": "Remote code injection in Log4j",
    "affected": [
        {
            "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]},
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}]},
            ],
        }
    ],
    "database_specific": {"severity": "CRITICAL"},
}


async def test_a_ubi_image_with_a_java_application(
    world: World, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rt = world.reg.wharf.rt
    dbs = rpmdb.build(tmp_path_factory.mktemp("rpm"))
    ubi = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.3"\n'
    base = gzip.compress(tar([F("etc/os-release", ubi), F("var/lib/rpm/rpmdb.sqlite", dbs.sqlite)]))
    log4j = io.BytesIO()
    with zipfile.ZipFile(log4j, "w") as z:
        z.writestr(
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
            "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n",
        )
    app = gzip.compress(tar([F("opt/app/lib/log4j-core-2.14.1.jar", log4j.getvalue())]))
    digest = sha256(await push_image(world.reg, REPO, "ubi", [base, app]))
    await drain(rt)
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", [RHSA_OPENSSL, LOG4SHELL])
    )

    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/manifest/{digest}/security?vulnerabilities=true",
        headers=world.api["reader"],
    )
    features = {f["Name"]: f for f in r.json()["data"]["Layer"]["Features"]}
    assert set(features) == {name for name, _, _ in rpmdb.EXPECTED} | {"org.apache.logging.log4j:log4j-core"}
    libs = features["openssl-libs"]
    assert (libs["VersionFormat"], libs["NamespaceName"], libs["Version"], libs["AddedBy"]) == (
        "rpm",
        "rhel:9.3",
        "1:3.0.7-27.el9",
        sha256(base),
    )
    assert libs["Vulnerabilities"] == []  # 27.el9 is the fixed release itself
    assert features["tilde"]["Vulnerabilities"] == []
    java = features["org.apache.logging.log4j:log4j-core"]
    assert (java["VersionFormat"], java["NamespaceName"], java["AddedBy"]) == ("maven", "", sha256(app))
    [ghsa] = java["Vulnerabilities"]
    assert (ghsa["Name"], ghsa["Severity"], ghsa["FixedBy"], ghsa["NamespaceName"]) == (
        "GHSA-jfh8-c2jp-5v3q",
        "Critical",
        "2.15.0",
        "Maven",
    )


async def test_an_older_rpm_is_matched_by_red_hats_stream(world: World, tmp_path: Path) -> None:
    rt = world.reg.wharf.rt
    rows = [
        store.PackageRow(
            name="openssl-libs",
            version="1:3.0.7-24.el9",
            version_format="rpm",
            ecosystem="Red Hat:enterprise_linux:9",
            match_name="openssl-libs",
            namespace="rhel:9.2",
            added_by="sha256:" + "1" * 64,
            source_name="openssl",
        )
    ]
    digest = sha256(await push_image(world.reg, REPO, "ubi-old", [BASE]))
    await drain(rt)
    stored = await rt.db.write(store.record_index, digest, "scanned", INDEXER_VERSION, packages=rows)
    await asyncio.to_thread(
        updater.update, rt.db, osv_samples.write_zip(tmp_path / "all.zip", [RHSA_OPENSSL])
    )
    report = await rt.db.read(store.report, digest)
    assert report is not None
    [found] = report.vulnerabilities[stored[0].id]
    assert (found.osv_id, found.fixed_by, found.ecosystem) == (
        "RHSA-2024:2447",
        "1:3.0.7-27.el9",
        "Red Hat:enterprise_linux:9",
    )
