"""podman logs in, pushes and pulls; buildah builds with RUN and pushes; both checked from outside."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CLIENT_TOOLS,
    Clients,
    Server,
    creds_args,
    require_tools,
)

require_tools(*CLIENT_TOOLS)

pytestmark = pytest.mark.e2e


def test_podman_login_push_rmi_pull(
    server: Server, make_clients: Callable[[str], Clients], images: BuiltImages, tmp_path: Path
) -> None:
    podman = make_clients("podman")
    ref = f"{server.host}/admin/e2e-podman:v1"
    image_id = podman.run("podman", "pull", "-q", images.busybox_oci).stdout.strip().splitlines()[-1]
    podman.run("podman", "tag", image_id, ref)

    if server.has_auth:
        bad = podman.run(
            "podman",
            "login",
            "--tls-verify=false",
            "-u",
            ADMIN_USER,
            "--password-stdin",
            server.host,
            stdin="not-the-password\n",
            check=False,
        )
        assert bad.returncode != 0, bad.stdout
        assert server.host not in json.loads(podman.auth_file.read_text()).get("auths", {})
        unauthenticated = podman.run("podman", "push", "--tls-verify=false", ref, check=False)
        assert unauthenticated.returncode != 0, unauthenticated.stdout

        podman.run(
            "podman",
            "login",
            "--tls-verify=false",
            "-u",
            ADMIN_USER,
            "--password-stdin",
            server.host,
            stdin=ADMIN_PASSWORD + "\n",
        )
        assert server.host in json.loads(podman.auth_file.read_text())["auths"]

    digest_file = tmp_path / "podman.digest"
    podman.run("podman", "push", "--tls-verify=false", "--digestfile", str(digest_file), ref)
    pushed_digest = digest_file.read_text().strip()
    assert pushed_digest.startswith("sha256:")
    # seen from outside, with another client and explicit credentials
    assert podman.skopeo_inspect(f"docker://{ref}", server.creds)["Digest"] == pushed_digest
    assert podman.skopeo_digest(f"docker://{ref}", server.creds) == pushed_digest

    podman.run("podman", "rmi", "-f", image_id)
    assert podman.run("podman", "image", "exists", ref, check=False).returncode != 0
    assert podman.run("podman", "images", "-q").stdout.strip() == ""

    podman.run("podman", "pull", "--tls-verify=false", ref)
    pulled = json.loads(podman.run("podman", "image", "inspect", ref).stdout)[0]
    assert pulled["Id"] == image_id
    assert pulled["Digest"] == pushed_digest
    assert f"{server.host}/admin/e2e-podman@{pushed_digest}" in pulled["RepoDigests"]

    if server.has_auth:
        podman.run("podman", "logout", server.host)
        assert server.host not in json.loads(podman.auth_file.read_text()).get("auths", {})


def test_buildah_bud_with_run_push_then_inspect_and_unpack(
    server: Server, make_clients: Callable[[str], Clients], images: BuiltImages, tmp_path: Path
) -> None:
    buildah = make_clients("buildah")
    buildah.run("buildah", "pull", "-q", images.busybox_oci)
    base_id = buildah.run("buildah", "images", "-q").stdout.split()[0]
    buildah.run("buildah", "tag", base_id, "localhost/e2e-base:latest")
    ctx = tmp_path / "context"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM localhost/e2e-base:latest\n"
        "RUN echo hello-from-buildah > /hello.txt\n"
        'LABEL org.opencontainers.image.title="wharf e2e"\n'
    )
    buildah.run(
        "buildah",
        "bud",
        "--pull=never",
        "--isolation",
        "chroot",
        "--format",
        "oci",
        "-t",
        "localhost/e2e-built:latest",
        str(ctx),
    )

    ref = f"docker://{server.host}/admin/e2e-buildah:v1"
    digest_file = tmp_path / "buildah.digest"
    buildah.run(
        "buildah",
        "push",
        "--tls-verify=false",
        *creds_args(server.creds),
        "--digestfile",
        str(digest_file),
        "localhost/e2e-built:latest",
        ref,
    )
    pushed_digest = digest_file.read_text().strip()

    info = buildah.skopeo_inspect(ref, server.creds)
    assert info["Digest"] == pushed_digest
    assert len(info["Layers"]) == 2  # busybox + the RUN layer
    assert info["Labels"]["org.opencontainers.image.title"] == "wharf e2e"
    assert buildah.skopeo_digest(ref, server.creds) == pushed_digest

    # the file the RUN step wrote comes back in the pulled layers
    layout = tmp_path / "pulled"
    buildah.run(
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        *creds_args(server.creds, "--src-creds"),
        ref,
        f"oci:{layout}:x",
    )
    bundle = tmp_path / "bundle"
    buildah.run("umoci", "unpack", "--image", f"{layout}:x", str(bundle))
    assert (bundle / "rootfs" / "hello.txt").read_text() == "hello-from-buildah\n"
    assert (bundle / "rootfs" / "bin" / "busybox").stat().st_size > 100_000
