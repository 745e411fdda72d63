"""A real OpenSSH server for the tests that clone over SSH: `sshd` on a loopback port, with a host
key made for it, its own configuration, and one authorized key (the trigger's deploy key). Logins
run `git-shell`, so a key can fetch from (or push to) the git repositories under the server's
directory and do nothing else. It logs in as the user the tests run as (root on the CI machine).

Needs the openssh-server package (scripts/install-system-deps installs it); `sshd_or_skip` skips a
test cleanly without it."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.waiting import wait_until

_SSHD_PATHS = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def sshd_or_skip() -> str:
    """The sshd binary; skips the test when openssh-server is not installed."""
    found = shutil.which("sshd") or next((p for p in _SSHD_PATHS if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip("sshd is not installed (apt-get install openssh-server, scripts/install-system-deps)")
    if shutil.which("git-shell") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("git-shell or ssh-keygen is not installed (git, openssh-client)")
    return found


@dataclass
class SshServer:
    port: int
    user: str
    authorized_keys: Path
    host_key: str
    """The server's public host key (`ssh-ed25519 AAAA...`)."""

    def url(self, repository: Path) -> str:
        """The ssh:// URL of a repository on this server (its absolute path)."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"

    def authorize(self, public_key: str) -> None:
        """Add a key; sshd reads the file at each login, so this works while it runs."""
        with self.authorized_keys.open("a") as f:
            f.write(public_key.strip() + "\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def ssh_server(root: Path) -> Iterator[SshServer]:
    sshd = sshd_or_skip()
    root.mkdir(parents=True, exist_ok=True)
    host_key = root / "host_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True, timeout=60
    )
    keys = root / "authorized_keys"
    keys.touch(mode=0o600)
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress 127.0.0.1:{port}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {keys}",
                "PidFile none",
                "UsePAM no",
                # the test's files live under /tmp (world-writable): sshd's path check would refuse
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "PermitTTY no",
                # whatever the client asks, git-shell decides: git-upload-pack and friends only
                'ForceCommand git-shell -c "$SSH_ORIGINAL_COMMAND"',
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    # Debian's sshd wants its privilege-separation directory even when it is not the system's.
    with contextlib.suppress(PermissionError):  # not root: sshd says what it misses in its log
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = (root / "sshd.log").open("wb")
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or _listening(port), "sshd to listen", timeout_s=30)
        if proc.poll() is not None:
            raise AssertionError(f"sshd exited: {(root / 'sshd.log').read_text()}")
        public = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
        yield SshServer(port, getpass.getuser(), keys, public)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        print(f"--- sshd log ---\n{(root / 'sshd.log').read_text()[-4000:]}")
