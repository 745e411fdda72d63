"""Git, run the guarded way: the environment and options every git command of Wharf's runs with
(a build's clone, jobs/build_source.py) and reading one file of a remote's branch without a
checkout (the trigger analyzer, services/trigger_analysis.py).

The remote goes through the outbound guard first (integrations/git_remote.py), and git connects
to an address the guard saw: over SSH by `HostName=<address>`, over HTTP(S) by
`http.curloptResolve`. git runs with no system or user configuration, no prompt, only the
remote's own protocol allowed, and redirects refused. Over SSH it presents the trigger's deploy
key (when it has one) and checks the server's host key against the trigger's pinned keys
(`known_hosts`), or, without any, accepts it on first sight.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wharf.config import Settings
from wharf.integrations import git_remote
from wharf.integrations.git_remote import Remote

READ_TIMEOUT_S = 60
"""How long reading one file may take, the fetch included."""
MAX_FILE = 1024 * 1024


class GitFailed(Exception):
    """git could not read the remote (the message says why, without secrets)."""


HOST_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
MAX_HOST_KEYS = 20


def host_keys(text: str) -> list[str]:
    """The SSH host keys (`<type> <base64>`) in `text`: lines as `ssh-keyscan` prints them, or as
    a known_hosts file holds them, or just `<type> <base64>`. The host names of a line are not
    read: the keys are pinned for the one server a trigger clones from. ValueError saying which
    line is not one."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith("@"):
            raise ValueError(f"line {number}: markers such as {words[0]} are not supported")
        at = next((i for i, w in enumerate(words[:2]) if w in HOST_KEY_TYPES), None)
        if at is None or at + 1 >= len(words):
            raise ValueError(f"line {number} holds no SSH host key ({', '.join(sorted(HOST_KEY_TYPES))})")
        kind, blob = words[at], words[at + 1]
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise ValueError(f"line {number}: the {kind} key is not base64") from None
        # the key's own encoding starts with its type, as a length-prefixed string
        if raw[4 : 4 + len(kind)] != kind.encode() or int.from_bytes(raw[:4], "big") != len(kind):
            raise ValueError(f"line {number}: this is not an {kind} key")
        found.append(f"{kind} {blob}")
    if len(found) > MAX_HOST_KEYS:
        raise ValueError(f"at most {MAX_HOST_KEYS} host keys")
    return found


def git_env(
    work: Path, remote: Remote, addresses: list[Any], key: str | None, pinned: Sequence[str] = ()
) -> dict[str, str]:
    """The environment git runs in for this clone (the key written to the build's directory).
    `pinned`: the server's host keys (host_keys), the only ones ssh then accepts."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": remote.transport,
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }
    if remote.is_ssh:
        ssh_dir = work / "ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        known = ssh_dir / "known_hosts"
        known.touch(mode=0o600)
        # ssh looks the key up under HostKeyAlias, the URL's host, whatever the port
        known.write_text("".join(f"{remote.host} {k}\n" for k in pinned))
        options = [
            "-F",
            os.devnull,
            "-o",
            "BatchMode=yes",
            "-o",
            f"StrictHostKeyChecking={'yes' if pinned else 'accept-new'}",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "HostKeyAlias=" + remote.host,
            "-o",
            "IdentitiesOnly=yes",
        ]
        if key:
            identity = ssh_dir / "id"
            fd = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key if key.endswith("\n") else key + "\n")
            options += ["-i", str(identity)]
        if addresses:
            options += ["-o", f"HostName={addresses[0]}"]
        # git hands this to a shell: every part quoted.
        env["GIT_SSH_COMMAND"] = "ssh " + " ".join(shlex.quote(o) for o in options)
    return env


def git_config(remote: Remote, addresses: list[Any]) -> list[str]:
    """`-c` options for every git command of the clone."""
    options = [
        "-c",
        "protocol.file.allow=never",
        "-c",
        "http.followRedirects=false",
        "-c",
        "core.symlinks=true",
    ]
    if addresses and not remote.is_ssh:
        port = remote.port or (80 if remote.transport == "http" else 443)
        address = f"[{addresses[0]}]" if ":" in str(addresses[0]) else str(addresses[0])
        options += ["-c", f"http.curloptResolve={remote.host}:{port}:{address}"]
    return options


async def _git(env: dict[str, str], *args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


def _reason(err: bytes) -> str:
    """git's last words, for a person (the remote's own message, usually)."""
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "git failed")[:300]


async def _read(
    settings: Settings,
    url: str,
    ref: str | None,
    path: str,
    key: str | None,
    pinned: Sequence[str],
    work: Path,
) -> bytes | None:
    remote, addresses = await git_remote.check(url, settings)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "LC_ALL": "C",
        **git_env(work, remote, addresses, key, pinned),
    }
    config = git_config(remote, addresses)
    root = str(work / "repo.git")
    code, _, err = await _git(env, *config, "init", "-q", "--bare", root)
    if code:
        raise GitFailed(_reason(err))
    wanted = ref or "HEAD"
    # One commit, no tags, no checkout: what reading one file of a branch needs.
    fetch = ("fetch", "-q", "--depth=1", "--no-tags", "--", remote.url, wanted)
    code, _, err = await _git(env, *config, "-C", root, *fetch)
    if code:
        raise GitFailed(f"git fetch {remote.url} {wanted}: {_reason(err)}")
    spec = f"FETCH_HEAD:{path.lstrip('/')}"
    code, kind, _ = await _git(env, *config, "-C", root, "cat-file", "-t", spec)
    if code or kind.strip() != b"blob":
        return None  # no such file on that branch (or it is a directory)
    code, size, _ = await _git(env, *config, "-C", root, "cat-file", "-s", spec)
    if code or int(size.strip() or 0) > MAX_FILE:
        raise GitFailed(f"{path} is larger than {MAX_FILE} bytes")
    code, data, err = await _git(env, *config, "-C", root, "cat-file", "blob", spec)
    if code:
        raise GitFailed(_reason(err))
    return data


async def read_file(
    settings: Settings, url: str, ref: str | None, path: str, key: str | None, pinned: Sequence[str] = ()
) -> bytes | None:
    """The file at `path` of the branch `ref` (None: the remote's default branch) of the git
    remote `url`, fetched shallowly into a directory removed afterwards; None when the branch has
    no such file. Raises git_remote.BadRemote, outbound.OutboundRefused / OutboundFailed (the
    guard), GitFailed (git could not read it), TimeoutError."""
    with tempfile.TemporaryDirectory(prefix="wharf-git-") as tmp:
        async with asyncio.timeout(READ_TIMEOUT_S):
            return await _read(settings, url, ref, path, key, pinned, Path(tmp))
