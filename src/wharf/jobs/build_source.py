"""A trigger build's source: the commit its push named, cloned from the trigger's git remote.

The remote goes through the outbound guard first (integrations/git_remote.py), and git connects
to an address the guard saw: over SSH by `HostName=<address>`, over HTTP(S) by
`http.curloptResolve`, so a name cannot resolve to a public address for the check and an
internal one for the clone. git runs with no system or user configuration, no prompt, only the
remote's own protocol allowed (no `file://`, no `ext::`, so no submodule or alternate reaches the
builder's disk), and redirects refused. Over SSH it presents the trigger's deploy key and
accepts only the host keys the trigger pins (its `known_hosts`), or, when it pins none, the
server's host key on first sight (the build's known_hosts is new every time; the git server is
the one the trigger's admin named).

The checkout is then held to what an uploaded archive is: at most BUILD_ARCHIVE_MAX_BYTES and
BUILD_ARCHIVE_MAX_ENTRIES, no link leading out of it. `.git` is removed: the context is the tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from wharf.config import Settings
from wharf.integrations import git_remote, outbound
from wharf.integrations.git_files import git_config as git_config
from wharf.integrations.git_files import git_env as git_env


class SourceRefused(Exception):
    """The source may not be fetched or used (the message is for the build log)."""


class Runner(Protocol):
    async def __call__(
        self, *args: str, shown: str | None = None, env: dict[str, str] | None = None
    ) -> None: ...


async def fetch(
    run: Runner,
    settings: Settings,
    work: Path,
    root: Path,
    metadata: dict[str, Any],
    key: str | None,
    pinned: Sequence[str] = (),
) -> None:
    """Clone the commit `metadata` names into the (empty) directory `root`, over SSH with the
    deploy `key`, accepting only the `pinned` host keys when there are any."""
    url, commit, ref = (
        str(metadata.get("git_url") or ""),
        str(metadata.get("commit") or ""),
        metadata.get("ref"),
    )
    try:
        remote, addresses = await git_remote.check(url, settings)
    except git_remote.BadRemote as e:
        raise SourceRefused(f"Cannot clone {url!r}: {e}") from None
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise SourceRefused(f"Cannot clone {url!r}: {e}") from None
    env = git_env(work, remote, addresses, key, pinned)
    config = git_config(remote, addresses)
    await run("git", *config, "init", "-q", str(root), shown=f"git init {root.name}", env=env)
    wanted = str(ref) if isinstance(ref, str) and ref.startswith("refs/") else commit
    await run(
        "git",
        *config,
        "-C",
        str(root),
        "fetch",
        "--no-tags",
        "--",
        remote.url,
        wanted,
        shown=f"git fetch {remote.url} {wanted}",
        env=env,
    )
    await run(
        "git",
        *config,
        "-C",
        str(root),
        "checkout",
        "-q",
        "--detach",
        commit,
        shown=f"git checkout {commit}",
        env=env,
    )
    shutil.rmtree(root / ".git")


def check_tree(root: Path, max_bytes: int, max_entries: int) -> None:
    """The checkout holds no link leading out of it and is no bigger than an archive may be."""
    root = Path(os.path.realpath(root))
    size = entries = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            entries += 1
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != str(root) and not real.startswith(str(root) + os.sep):
                    shown = os.path.relpath(path, root)
                    raise SourceRefused(f"{shown[:200]!r} is a link that leaves the repository")
            elif name in filenames:
                size += os.lstat(path).st_size
        if entries > max_entries:
            raise SourceRefused(f"the repository holds more than {max_entries} entries")
        if size > max_bytes:
            raise SourceRefused(f"the repository is larger than {max_bytes} bytes")
