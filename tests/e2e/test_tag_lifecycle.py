"""The tag lifecycle with real clients: move, delete and restore a tag (the time machine), a tag
that expires by its image label, and garbage collection reclaiming exactly the unique layers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, SERVER_KIND, WHARF, Clients, Server, creds_args, require_tools
from tests.waiting import wait_until

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("tag history and GC are Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPO = "admin/e2e-lifecycle"
# GC runs by hand here (`wharf admin gc --grace-period 0`: nothing is pushed meanwhile); the
# in-process job stays out of it.
GC_SETTINGS = {"WHARF_GC_INTERVAL_S": "86400"}


@pytest.fixture
def server_settings() -> dict[str, str]:
    return GC_SETTINGS


def _wharf(server: Server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")} | GC_SETTINGS
    if server.db_uri:
        env["WHARF_DB_URI"] = server.db_uri
    proc = subprocess.run(
        [str(WHARF), *args, "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _blob_sizes(server: Server) -> dict[str, int]:
    root = server.data_dir / "storage" / "sha256"
    return {"sha256:" + p.name: p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _blobs(raw: bytes) -> set[str]:
    manifest = json.loads(raw)
    return {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}


def test_move_delete_restore_expire_and_collect(
    server: Server,
    clients: Clients,
    make_clients: Callable[[str], Clients],
    images: BuiltImages,
    tmp_path: Path,
) -> None:
    creds = server.creds
    ref = f"docker://{server.host}/{REPO}"
    token = _wharf(server, "admin", "token", "admin").strip()
    api = httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )

    def copy(src: str, dest: str) -> None:
        clients.run(
            "skopeo", "copy", "--dest-tls-verify=false", *creds_args(creds, "--dest-creds"), src, dest
        )

    # v1 and v2 share the busybox layer; v2 adds three layers of its own
    copy(images.busybox_oci, f"{ref}:v1")
    copy(images.layers_oci, f"{ref}:v2")
    v1 = clients.skopeo_digest(f"{ref}:v1", creds)
    v2 = clients.skopeo_digest(f"{ref}:v2", creds)
    v1_blobs, v2_blobs = (
        _blobs(clients.skopeo_raw(f"{ref}:v1", creds)),
        _blobs(clients.skopeo_raw(f"{ref}:v2", creds)),
    )

    # latest: v1, moved to v2, deleted, then restored to v1 from its history
    r = api.put(f"/repository/{REPO}/tag/latest", json={"manifest_digest": v1})
    assert r.status_code == 201, r.text
    r = api.put(f"/repository/{REPO}/tag/latest", json={"manifest_digest": v2})
    assert r.status_code == 201, r.text
    assert clients.skopeo_digest(f"{ref}:latest", creds) == v2
    assert api.delete(f"/repository/{REPO}/tag/latest").status_code == 204
    gone = clients.run(
        "skopeo", "inspect", "--tls-verify=false", *creds_args(creds), f"{ref}:latest", check=False
    )
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower()
    r = api.post(f"/repository/{REPO}/tag/latest/restore", json={"manifest_digest": v1})
    assert r.status_code == 200, r.text
    pulled = tmp_path / "restored"
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{ref}:latest",
        f"oci:{pulled}:x",
    )
    assert clients.skopeo_digest(f"oci:{pulled}:x") == v1

    # a tag whose image says quay.expires-after vanishes from /v2 when the time is up
    buildah = make_clients("buildah")
    buildah.run("buildah", "pull", "-q", images.busybox_oci)
    base = buildah.run("buildah", "images", "-q").stdout.split()[0]
    ctr = buildah.run("buildah", "from", base).stdout.strip()
    buildah.run("buildah", "config", "--label", "quay.expires-after=3s", ctr)
    buildah.run("buildah", "commit", "--format", "oci", ctr, "localhost/e2e-short:latest")
    buildah.run(
        "buildah",
        "push",
        "--tls-verify=false",
        *creds_args(creds),
        "localhost/e2e-short:latest",
        f"{ref}:short",
    )

    # The label gives the tag 3 s from its manifest's PUT, the push's last request, however long
    # the push itself took on a busy machine: wait for it to go (generous deadline), then find its
    # image through the history.
    def inspect() -> subprocess.CompletedProcess[str]:
        return clients.run(
            "skopeo", "inspect", "--tls-verify=false", *creds_args(creds), f"{ref}:short", check=False
        )

    wait_until(lambda: inspect().returncode != 0, "the tag labelled to expire to go", 300, interval_s=0.2)
    expired = inspect()
    assert expired.returncode != 0 and "manifest unknown" in expired.stderr.lower()
    history = api.get(
        f"/repository/{REPO}/tag/", params={"specificTag": "short", "onlyActiveTags": "false"}
    ).json()["tags"]
    assert [t["name"] for t in history] == ["short"] and history[0].get("end_ts")
    short_blobs = _blobs(clients.skopeo_raw(f"{ref}@{history[0]['manifest_digest']}", creds))

    # with a time-machine window of 0, deleting v2 makes its unique layers garbage, and GC reclaims
    # exactly those (and the expired image's own config), not one byte more
    assert api.put("/user/", json={"tag_expiration_s": 0}).status_code == 200
    clients.run("skopeo", "delete", "--tls-verify=false", *creds_args(creds), f"{ref}:v2")
    before = _blob_sizes(server)
    expected = (v2_blobs | short_blobs) - v1_blobs
    plan = json.loads(_wharf(server, "admin", "gc", "--grace-period", "0", "--dry-run", "--json"))
    assert set(plan["removed_digests"]) == expected
    assert _blob_sizes(server) == before  # the dry run changed nothing
    report = json.loads(_wharf(server, "admin", "gc", "--grace-period", "0", "--json"))
    assert set(report["removed_digests"]) == expected
    after = _blob_sizes(server)
    assert set(after) == set(before) - expected
    assert report["bytes_freed"] == sum(before[d] for d in expected)
    # and v1, through the restored tag, still pulls whole
    again = tmp_path / "again"
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{ref}:latest",
        f"oci:{again}:x",
    )
    assert clients.skopeo_digest(f"oci:{again}:x") == v1
