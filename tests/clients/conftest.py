"""Real container clients (skopeo, podman, buildah, oras-py) against a real `wharf serve`.

Client configuration follows shared/reference/clients.md: vfs storage and runc under the test's
temporary directory, the server marked insecure (plain HTTP on 127.0.0.1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.server import WharfServer

PASSWORD = "clients-test-pw"
TOOLS = ("skopeo", "podman", "buildah")

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        skip = pytest.mark.skip(reason=f"not installed: {', '.join(missing)} (scripts/install-system-deps)")
        for item in items:
            if "tests/clients/" in str(item.fspath):
                item.add_marker(skip)


class Clients:
    """Runs client commands with an environment that points them at private config files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\n'
        )
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/storage/root"\nrunroot = "{root}/storage/run"\n'
        )
        (root / "auth.json").write_text("{}")
        self.registries: list[str] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "CONTAINERS_"))},
            "CONTAINERS_CONF": str(root / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(root / "auth.json"),
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(root),
        }
        self._write_registries()

    def _write_registries(self) -> None:
        text = "unqualified-search-registries = []\n"
        for host in self.registries:
            text += f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
        (self.root / "registries.conf").write_text(text)

    def allow(self, host: str) -> None:
        if host not in self.registries:
            self.registries.append(host)
            self._write_registries()

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    return Clients(tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="session")
def images(clients: Clients) -> dict[str, str]:
    """Builds test images offline once: busybox, a 4-layer image and a two-platform index."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    c = clients.run("buildah", "from", "scratch").stdout.strip()
    clients.run("buildah", "copy", c, busybox, "/bin/busybox")
    clients.run("buildah", "config", "--cmd", '["/bin/busybox","sh"]', "--env", "PATH=/bin", c)
    clients.run("buildah", "commit", "--rm", "--format", "docker", c, "localhost/busybox:latest")
    base = "localhost/busybox:latest"
    for i in range(3):
        payload = clients.root / f"layer{i}.bin"
        payload.write_bytes(os.urandom(200_000))
        c = clients.run("buildah", "from", base).stdout.strip()
        clients.run("buildah", "copy", c, str(payload), f"/data/layer{i}.bin")
        base = f"localhost/layers:{i}"
        clients.run("buildah", "commit", "--rm", "--format", "oci", c, base)
    clients.run("buildah", "tag", base, "localhost/layers:latest")
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        c = clients.run("buildah", "from", "scratch").stdout.strip()
        clients.run("buildah", "copy", c, busybox, "/bin/busybox")
        clients.run(
            "buildah",
            "config",
            "--arch",
            arch,
            *(["--variant", variant] if variant else []),
            "--label",
            f"arch={arch}",
            c,
        )
        clients.run("buildah", "commit", "--rm", "--format", "oci", c, f"localhost/multi-{arch}:latest")
    clients.run("buildah", "manifest", "create", "localhost/multi:latest")
    for arch in ("amd64", "arm64"):
        clients.run(
            "buildah",
            "manifest",
            "add",
            "localhost/multi:latest",
            f"containers-storage:localhost/multi-{arch}:latest",
        )
    return {
        "busybox": "localhost/busybox:latest",
        "layers": "localhost/layers:latest",
        "multi": "localhost/multi:latest",
    }


@pytest.fixture
def wharf_server(tmp_path: Path, db_uri: str | None, clients: Clients) -> Iterator[WharfServer]:
    srv = WharfServer(tmp_path / "data", PASSWORD, db_uri=db_uri)
    srv.start()
    clients.allow(srv.host)
    yield srv
    srv.stop()
