"""A trigger build's clone over SSH, against a real `sshd` (tests/ssh_server.py) serving a git
repository through git-shell: the builder's fetch (jobs/build_source.py) with a deploy key made
as a trigger's is (services/build_triggers.deploy_key) gets the commit; with a key the server
does not know, the clone fails and nothing is checked out. Skipped without openssh-server."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from tests.ssh_server import ssh_server
from wharf.config import Settings, load_settings
from wharf.integrations import git_files
from wharf.jobs import build_source
from wharf.services.build_triggers import deploy_key


class _Failed(Exception):
    pass


async def _run(*args: str, shown: str | None = None, env: dict[str, str] | None = None) -> None:
    """The builder's runner, without a build log: output kept for the failure message."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise _Failed(f"{shown or args}: {out.decode(errors='replace')}")


def _git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _repository(tmp_path: Path) -> tuple[Path, str]:
    """A bare repository with one commit on main: (its path, the commit)."""
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    (work / "hello.txt").write_text("over ssh\n")
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "first", cwd=work)
    bare = tmp_path / "repos" / "app.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare, _git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def loopback_settings(tmp_path: Path) -> Settings:
    return load_settings(
        None, {"DATA_DIR": tmp_path / "data", "SSRF_ALLOWED_HOSTS": ["127.0.0.1"]}, environ={}
    )


async def test_a_trigger_clones_over_ssh_with_its_deploy_key(
    tmp_path: Path, loopback_settings: Settings
) -> None:
    bare, commit = _repository(tmp_path)
    private, public = deploy_key()
    with ssh_server(tmp_path / "sshd") as server:
        server.authorize(public)
        metadata = {"git_url": server.url(bare), "commit": commit, "ref": "refs/heads/main"}
        work, root = tmp_path / "build", tmp_path / "build" / "context"
        work.mkdir()
        await build_source.fetch(_run, loopback_settings, work, root, metadata, private)
        assert (root / "hello.txt").read_text() == "over ssh\n"
        assert not (root / ".git").exists()
        # the server's host key was taken on first sight, for this build only
        assert (work / "ssh" / "known_hosts").read_text().split()[1:3] == server.host_key.split()

        # a key the git server was not given gets nothing
        stranger, _ = deploy_key()
        other_work, other_root = tmp_path / "other", tmp_path / "other" / "context"
        other_work.mkdir()
        with pytest.raises(_Failed, match="Permission denied"):
            await build_source.fetch(_run, loopback_settings, other_work, other_root, metadata, stranger)
        assert not (other_root / "hello.txt").exists()


async def test_a_trigger_that_pins_the_host_key_clones_only_from_that_server(
    tmp_path: Path, loopback_settings: Settings
) -> None:
    bare, commit = _repository(tmp_path)
    private, public = deploy_key()
    other_key = " ".join(deploy_key()[1].split()[:2])  # an ed25519 key the server does not hold
    with ssh_server(tmp_path / "sshd") as server:
        server.authorize(public)
        metadata = {"git_url": server.url(bare), "commit": commit, "ref": "refs/heads/main"}
        # as `ssh-keyscan -p <port> 127.0.0.1` prints it: the port in the host is not in the way
        pinned = git_files.host_keys(f"[127.0.0.1]:{server.port} {server.host_key}\n")
        work, root = tmp_path / "build", tmp_path / "build" / "context"
        work.mkdir()
        await build_source.fetch(_run, loopback_settings, work, root, metadata, private, pinned)
        assert (root / "hello.txt").read_text() == "over ssh\n"
        assert (work / "ssh" / "known_hosts").read_text() == f"127.0.0.1 {server.host_key}\n"

        # a server whose key is not the one pinned (a man in the middle, a moved server) gets
        # no connection: nothing is fetched, and its key is not taken
        other_work, other_root = tmp_path / "other", tmp_path / "other" / "context"
        other_work.mkdir()
        with pytest.raises(_Failed, match="Host key verification failed"):
            await build_source.fetch(
                _run, loopback_settings, other_work, other_root, metadata, private, [other_key]
            )
        assert not (other_root / "hello.txt").exists()
        assert (other_work / "ssh" / "known_hosts").read_text() == f"127.0.0.1 {other_key}\n"
