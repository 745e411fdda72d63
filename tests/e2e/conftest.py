"""Fixtures for the end-to-end suite: client configuration, a server process, test images.

Images are built once per session, offline, from the static busybox binary, and exported as OCI
layouts (and a dir: copy) that tests push with skopeo. Each test gets its own server (own port and
data dir, restartable) so that tests stay independent. Chromium is shared per module (`browser`):
a launch costs seconds, and each test opens its pages in browser contexts of its own.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import chromium
from tests.e2e.harness import SERVER_KIND, Clients, Server


@dataclass(frozen=True)
class BuiltImages:
    """References (with transport) to the session's test images."""

    busybox_local: str  # in the session store: containers-storage
    busybox_oci: str  # single layer, Docker v2s2 converted to OCI by the export
    busybox_dir: str  # same image, dir: transport, manifest kept as built (Docker v2s2)
    layers_oci: str  # 4 layers: busybox, 2 COPY, 1 RUN
    multi_oci: str  # OCI index, linux/amd64 and linux/arm64/v8
    layers_count: int


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def session_clients(e2e_root: Path) -> Clients:
    """The store that builds the test images (tests that need a store get their own)."""
    return Clients(e2e_root / "build")


@pytest.fixture(scope="session")
def images(session_clients: Clients, e2e_root: Path) -> BuiltImages:
    c = session_clients
    busybox = shutil.which("busybox") or "/bin/busybox"
    out = e2e_root / "images"
    out.mkdir()

    # busybox from the static binary, applets installed by running it (chroot isolation)
    ctr = c.run("buildah", "from", "scratch").stdout.strip()
    c.run("buildah", "copy", ctr, busybox, "/bin/busybox")
    c.run("buildah", "run", "--isolation", "chroot", ctr, "--", "/bin/busybox", "--install", "-s", "/bin")
    c.run("buildah", "config", "--cmd", '["/bin/sh"]', "--env", "PATH=/bin", ctr)
    c.run("buildah", "commit", "--rm", "--format", "docker", ctr, "localhost/e2e-busybox:latest")

    # multi-layer: one layer per instruction with --layers
    ctx = out / "context"
    ctx.mkdir()
    (ctx / "a.bin").write_bytes(os.urandom(300_000))
    (ctx / "b.bin").write_bytes(os.urandom(200_000))
    (ctx / "Containerfile").write_text(
        "FROM localhost/e2e-busybox:latest\n"
        "COPY a.bin /data/a.bin\n"
        "COPY b.bin /data/b.bin\n"
        "RUN echo built-by-wharf-e2e > /data/run.txt\n"
    )
    c.run(
        "buildah",
        "bud",
        "--layers",
        "--pull=never",
        "--isolation",
        "chroot",
        "--format",
        "oci",
        "-t",
        "localhost/e2e-layers:latest",
        str(ctx),
    )

    # two platforms in one index
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        ctr = c.run("buildah", "from", "scratch").stdout.strip()
        c.run("buildah", "copy", ctr, busybox, "/bin/busybox")
        marker = out / f"platform-{arch}"
        marker.write_text(f"{arch}\n")
        c.run("buildah", "copy", ctr, str(marker), "/platform")
        variant_args = ["--variant", variant] if variant else []
        c.run("buildah", "config", "--os", "linux", "--arch", arch, *variant_args, ctr)
        c.run("buildah", "commit", "--rm", "--format", "oci", ctr, f"localhost/e2e-multi-{arch}:latest")
    c.run("buildah", "manifest", "create", "localhost/e2e-multi:latest")
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        variant_args = ["--variant", variant] if variant else []
        c.run(
            "buildah",
            "manifest",
            "add",
            "--os",
            "linux",
            "--arch",
            arch,
            *variant_args,
            "localhost/e2e-multi:latest",
            f"containers-storage:localhost/e2e-multi-{arch}:latest",
        )

    layouts = out / "oci"
    layouts.mkdir()
    built = BuiltImages(
        busybox_local="localhost/e2e-busybox:latest",
        busybox_oci=f"oci:{layouts}/busybox:latest",
        busybox_dir=f"dir:{out}/busybox-dir",
        layers_oci=f"oci:{layouts}/layers:latest",
        multi_oci=f"oci:{layouts}/multi:latest",
        layers_count=4,
    )
    c.run("skopeo", "copy", "containers-storage:localhost/e2e-busybox:latest", built.busybox_oci)
    c.run("skopeo", "copy", "containers-storage:localhost/e2e-busybox:latest", built.busybox_dir)
    c.run("skopeo", "copy", "containers-storage:localhost/e2e-layers:latest", built.layers_oci)
    c.run(
        "buildah",
        "manifest",
        "push",
        "--all",
        "--format",
        "oci",
        "localhost/e2e-multi:latest",
        built.multi_oci,
    )

    layers = json.loads(c.skopeo_raw(built.layers_oci))["layers"]
    assert len(layers) == built.layers_count, layers
    index = json.loads(c.skopeo_raw(built.multi_oci))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index
    assert len(index["manifests"]) == 2, index
    return built


@pytest.fixture
def server_settings() -> dict[str, str]:
    """WHARF_* settings for the `server` fixture; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def server(tmp_path: Path, db_uri: str | None, server_settings: dict[str, str]) -> Iterator[Server]:
    """A fresh server on a free port; `server.restart(crash=True)` keeps its port and data dir."""
    srv = Server(
        tmp_path / "server", db_uri=db_uri if SERVER_KIND == "wharf" else None, settings_env=server_settings
    )
    srv.workdir.mkdir(parents=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        # shown by pytest only when the test failed
        print(f"--- {srv.kind} log ({srv.log_path}) ---\n{srv.log_tail()}")


@pytest.fixture
def make_clients(tmp_path: Path, server: Server) -> Callable[[str], Clients]:
    """Clients with a store of their own, that treat the test's server as an insecure registry."""

    def make(name: str) -> Clients:
        clients = Clients(tmp_path / name)
        clients.allow(server.host)
        return clients

    return make


@pytest.fixture
def clients(make_clients: Callable[[str], Clients]) -> Clients:
    return make_clients("clients")


@pytest.fixture
def client_env(clients: Clients) -> dict[str, str]:
    """Environment for client subprocesses run by hand: CONTAINERS_*, REGISTRY_AUTH_FILE, TMPDIR."""
    return clients.env


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the web UI tests (tests/e2e/browser.py), one per module: a launch
    costs seconds, and each test opens pages in contexts of its own (cookies, storage, dialogs
    and permissions are a context's), so tests do not share what they change."""
    with chromium() as b:
        yield b
