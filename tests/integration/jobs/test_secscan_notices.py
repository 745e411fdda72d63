"""`vulnerability_found` from security scanning (issue 16): an index that reveals a vulnerability
and new OSV data that reveals one in a stored image each fire the event once per (manifest,
vulnerability), to every repository holding the manifest that asked for it, through the job
queue to a real local webhook receiver; importing again or changing a record never repeats it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_HOSTNAME
from tests.integration.jobs import osv_samples
from tests.integration.jobs.test_secscan import BASE, OPENSSL, drain, push_image
from tests.integration.registry_client import sha256
from tests.integration.world import World
from tests.receivers import HttpReceiver, http_receiver
from wharf.config import Settings, load_settings
from wharf.core import repositories
from wharf.core import secscan as store
from wharf.services import secscan_update as updater

# util-linux's wall escape (CVE-2024-28085), fixed in bookworm by 2.38.1-5+deb12u1; the image's
# libblkid1 is built from util-linux 2.38.1-5: affected. Debian rates it no higher than Low here
# by leaving the severity out: Unknown.
UTIL_LINUX_WALL: dict[str, Any] = {
    "id": "DEBIAN-CVE-2024-28085",
    "modified": "2024-09-18T03:26:10Z",
    "aliases": ["CVE-2024-28085"],
    "details": "wall in util-linux through 2.40 does not filter escape sequences from command line "
    "arguments.",
    "affected": [
        {
            "package": {"name": "util-linux", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-28085"}],
}


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    return load_settings(
        None,
        {
            "DATA_DIR": data_dir,
            "DB_URI": db_uri,
            "SERVER_HOSTNAME": TEST_HOSTNAME,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
            **storage_config,
        },
        environ={},
    )


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


async def hook(world: World, repo: str, url: str, level: str | None = None) -> None:
    body = {
        "event": "vulnerability_found",
        "method": "webhook",
        "config": {"url": url},
        "eventConfig": {} if level is None else {"level": level},
        "title": "vulnerabilities",
    }
    r = await world.reg.http.post(
        f"/api/v1/repository/{repo}/notification/", json=body, headers=world.api["owner"]
    )
    assert r.status_code == 201, r.text


def bodies(receiver: HttpReceiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests if r.path == path]


def announced(receiver: HttpReceiver, path: str) -> list[str]:
    return sorted(b["vulnerability"]["id"] for b in bodies(receiver, path))


async def test_each_vulnerability_is_announced_once_per_manifest(
    world: World, receiver: HttpReceiver, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    await hook(world, "acme/app", receiver.url + "/app")
    await hook(world, "acme/pub", receiver.url + "/pub", level="High")
    image = await push_image(world.reg, "acme/app", "debian", [BASE, OPENSSL])
    assert sha256(await push_image(world.reg, "acme/pub", "stable", [BASE, OPENSSL])) == sha256(image)
    await drain(rt)
    assert receiver.requests == []  # indexed, but no data says anything is vulnerable

    data = osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    await asyncio.to_thread(updater.update, rt.db, data, origin=rt.settings.public_origin)
    await drain(rt)
    receiver.wait_for(3)
    assert announced(receiver, "/app") == ["DEBIAN-CVE-2024-0727", "DEBIAN-CVE-2024-2961"]
    # acme/pub asked for High and above: the Medium one is not for it.
    [pub] = bodies(receiver, "/pub")
    assert pub == {
        "repository": "acme/pub",
        "namespace": "acme",
        "name": "pub",
        "docker_url": f"{TEST_HOSTNAME}/acme/pub",
        "homepage": f"http://{TEST_HOSTNAME}/repository/acme/pub",
        "tags": ["stable"],
        "manifest_digest": sha256(image),
        "vulnerability": {
            "id": "DEBIAN-CVE-2024-2961",
            "description": osv_samples.GLIBC_ICONV["details"],
            "link": "https://security-tracker.debian.org/tracker/CVE-2024-2961",
            "priority": "High",
            "has_fix": True,
        },
    }

    # The same data again, then a changed record that still matches: nothing is repeated.
    await asyncio.to_thread(updater.update, rt.db, data, origin=rt.settings.public_origin)
    changed = {**osv_samples.OPENSSL_PKCS12, "modified": "2025-02-01T00:00:00Z", "summary": "reworded"}
    again = osv_samples.write_zip(tmp_path / "again.zip", [changed, osv_samples.GLIBC_ICONV])
    result = await asyncio.to_thread(updater.update, rt.db, again, origin=rt.settings.public_origin)
    assert (result.imported, result.matches) == (1, 1)
    await drain(rt)
    assert len(receiver.requests) == 3

    # A new vulnerability in the stored image: one more, for the repository that wants it.
    directory = tmp_path / "osv"
    directory.mkdir()
    (directory / "wall.json").write_text(json.dumps(UTIL_LINUX_WALL))
    await asyncio.to_thread(updater.update, rt.db, directory, origin=rt.settings.public_origin)
    await drain(rt)
    receiver.wait_for(4)
    assert announced(receiver, "/app") == [
        "DEBIAN-CVE-2024-0727",
        "DEBIAN-CVE-2024-28085",
        "DEBIAN-CVE-2024-2961",
    ]
    [wall] = [b for b in bodies(receiver, "/app") if b["vulnerability"]["id"] == "DEBIAN-CVE-2024-28085"]
    assert (wall["tags"], wall["vulnerability"]["priority"]) == (["debian"], "Unknown")
    assert len(bodies(receiver, "/pub")) == 1


async def test_an_index_reveals_what_the_data_already_knows(
    world: World, receiver: HttpReceiver, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    await hook(world, "acme/app", receiver.url + "/app", level="Critical")
    await hook(world, "acme/pub", receiver.url + "/pub")
    data = osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)
    await asyncio.to_thread(updater.update, rt.db, data)

    await push_image(world.reg, "acme/pub", "base", [BASE])
    await drain(rt)
    [found] = receiver.wait_for(1)
    body = json.loads(found.body)
    assert (found.path, body["tags"], body["vulnerability"]["id"]) == (
        "/pub",
        ["base"],
        "DEBIAN-CVE-2024-2961",
    )
    # Indexed again (a rescan): the same vulnerability is not announced again.
    repo = await rt.db.read(repositories.get, "acme", "pub")
    assert repo is not None
    assert await rt.db.write(store.rescan, repo.id)
    await drain(rt)
    assert len(receiver.requests) == 1
