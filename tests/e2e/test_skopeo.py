"""skopeo pushes and pulls a multi-layer image and a multi-arch index; bytes come back identical."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, Clients, Server, creds_args, require_tools, sha256_digest

require_tools(*CLIENT_TOOLS)

pytestmark = pytest.mark.e2e


def test_skopeo_multi_layer_image_by_tag_and_digest_then_delete(
    server: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    creds = server.creds
    repo = f"docker://{server.host}/admin/e2e-skopeo-layers"
    src_raw = clients.skopeo_raw(images.layers_oci)
    src_digest = sha256_digest(src_raw)
    src_layers = [layer["digest"] for layer in json.loads(src_raw)["layers"]]
    assert len(src_layers) >= 3

    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        *creds_args(creds, "--dest-creds"),
        images.layers_oci,
        f"{repo}:v1",
    )
    # a registry-to-registry copy adds a second tag to the same manifest
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        *creds_args(creds, "--dest-creds"),
        f"{repo}:v1",
        f"{repo}:v2",
    )

    assert clients.skopeo_raw(f"{repo}:v1", creds) == src_raw
    info = clients.skopeo_inspect(f"{repo}:v1", creds)
    assert info["Digest"] == src_digest
    assert info["Layers"] == src_layers
    assert clients.skopeo_inspect(f"{repo}:v2", creds)["Digest"] == src_digest

    # out by tag into an OCI layout
    by_tag = tmp_path / "by-tag"
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{repo}:v1",
        f"oci:{by_tag}:x",
    )
    assert clients.skopeo_digest(f"oci:{by_tag}:x") == src_digest

    # out by digest into a dir: every file is checked against its digest here, not only by skopeo
    by_digest = tmp_path / "by-digest"
    clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{repo}@{src_digest}",
        f"dir:{by_digest}",
    )
    assert sha256_digest((by_digest / "manifest.json").read_bytes()) == src_digest
    for digest in src_layers:
        algo, hexdigest = digest.split(":")
        assert hashlib.new(algo, (by_digest / hexdigest).read_bytes()).hexdigest() == hexdigest

    tags = json.loads(
        clients.run("skopeo", "list-tags", "--tls-verify=false", *creds_args(creds), repo).stdout
    )
    assert tags["Repository"].endswith("/admin/e2e-skopeo-layers")
    assert sorted(tags["Tags"]) == ["v1", "v2"]

    clients.run("skopeo", "delete", "--tls-verify=false", *creds_args(creds), f"{repo}@{src_digest}")
    gone = clients.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{repo}@{src_digest}",
        f"oci:{tmp_path / 'after-delete'}:x",
        check=False,
    )
    assert gone.returncode != 0, gone.stdout
    assert "manifest unknown" in gone.stderr.lower(), gone.stderr
    by_tag_gone = clients.run(
        "skopeo", "inspect", "--raw", "--tls-verify=false", *creds_args(creds), f"{repo}:v1", check=False
    )
    assert by_tag_gone.returncode != 0, by_tag_gone.stdout


def test_skopeo_multi_arch_index_all_platforms(
    server: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    creds = server.creds
    repo = f"docker://{server.host}/admin/e2e-skopeo-multi"
    src_raw = clients.skopeo_raw(images.multi_oci)
    src_digest = sha256_digest(src_raw)
    index = json.loads(src_raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = {
        (m["platform"]["architecture"], m["platform"].get("variant", "")): m["digest"]
        for m in index["manifests"]
    }
    assert set(platforms) == {("amd64", ""), ("arm64", "v8")}

    clients.run(
        "skopeo",
        "copy",
        "--all",
        "--dest-tls-verify=false",
        *creds_args(creds, "--dest-creds"),
        images.multi_oci,
        f"{repo}:v1",
    )
    assert clients.skopeo_raw(f"{repo}:v1", creds) == src_raw

    for (arch, _variant), child in platforms.items():
        assert clients.skopeo_digest(f"{repo}@{child}", creds) == child
        out = tmp_path / f"child-{arch}"
        clients.run(
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            *creds_args(creds, "--src-creds"),
            f"{repo}@{child}",
            f"oci:{out}:x",
        )
        assert clients.skopeo_digest(f"oci:{out}:x") == child
        config = json.loads(
            clients.run(
                "skopeo",
                "inspect",
                "--config",
                "--raw",
                "--tls-verify=false",
                *creds_args(creds),
                f"{repo}@{child}",
            ).stdout
        )
        assert config["architecture"] == arch

    out = tmp_path / "all"
    clients.run(
        "skopeo",
        "copy",
        "--all",
        "--src-tls-verify=false",
        *creds_args(creds, "--src-creds"),
        f"{repo}@{src_digest}",
        f"oci:{out}:x",
    )
    assert clients.skopeo_digest(f"oci:{out}:x") == src_digest
    for child in platforms.values():
        hexdigest = child.removeprefix("sha256:")
        assert hashlib.sha256((out / "blobs" / "sha256" / hexdigest).read_bytes()).hexdigest() == hexdigest
