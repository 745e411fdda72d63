"""The network a build's commands get (BUILD_NETWORK): with `none`, a namespace of their own
holding an up loopback and nothing else, so a listener of the host is out of reach; with
`host`, the command as it is. Real namespaces: skipped where the process may not make one."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from wharf.jobs.builder import isolated, network_isolation_problem, registry_host

_CONNECT = (
    "import socket, sys\n"
    "s = socket.socket()\n"
    "s.settimeout(5)\n"
    "try:\n"
    "    s.connect(('127.0.0.1', int(sys.argv[1])))\n"
    "except OSError as e:\n"
    "    print(type(e).__name__)\n"
    "else:\n"
    "    print('connected')\n"
)


def _connect_from(network: str, port: int) -> str:
    command = isolated(network, sys.executable, "-c", _CONNECT, str(port))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_host_leaves_the_command_as_it_is() -> None:
    assert isolated("host", "buildah", "bud", ".") == ("buildah", "bud", ".")


def test_none_reaches_no_listener_of_the_host_but_has_its_own_loopback() -> None:
    problem = network_isolation_problem()
    if problem:
        pytest.skip(f"no network namespaces here: {problem}")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert _connect_from("host", port) == "connected"
        # refused, not unreachable: the loopback is up, only nobody of the host's is on it
        assert _connect_from("none", port) == "ConnectionRefusedError"


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("alpine", "registry-1.docker.io"),
        ("library/alpine:3", "registry-1.docker.io"),
        ("quay.io/team/app@sha256:" + "a" * 64, "quay.io"),
        ("169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("localhost/app", "localhost"),
        ("10.0.0.5:5000/app:1", "10.0.0.5:5000"),
    ],
)
def test_the_registry_a_base_image_is_pulled_from(image: str, host: str) -> None:
    """What the outbound guard checks before skopeo pulls another registry's base image."""
    assert registry_host(image) == host
