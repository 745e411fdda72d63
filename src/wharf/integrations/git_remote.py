"""Git remotes a build may clone: https, http and ssh (URL or scp-like `user@host:path`) only,
checked by the outbound guard like any URL Wharf calls.

`file://`, `git://`, `ext::` and plain paths are refused: they would read the builder's own disk
or run a command. A remote may not start with `-` (git would read it as an option).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from wharf.config import Settings
from wharf.integrations import outbound

_SCP = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>[^/].*)$"
)


# A host name or an IP address: nothing a shell would read (ssh's options name it).
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$")


class BadRemote(ValueError):
    """Not a git remote a build may clone."""


@dataclass(frozen=True, slots=True)
class Remote:
    url: str
    transport: str  # https | http | ssh
    host: str
    port: int | None

    @property
    def is_ssh(self) -> bool:
        return self.transport == "ssh"

    @property
    def check_url(self) -> str:
        """An http(s) URL naming the same host and port, for the outbound guard."""
        scheme = "http" if self.transport == "http" else "https"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else (":22" if self.is_ssh else "")
        return f"{scheme}://{host}{port}/"


def parse(url: str) -> Remote:
    url = url.strip()
    if not url or len(url) > 2048 or url.startswith("-") or any(c in url for c in "\x00\n\r \t"):
        raise BadRemote("not a git URL")
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BadRemote("not a git URL") from None
        if parts.scheme not in ("https", "http", "ssh") or not parts.hostname or not parts.path.strip("/"):
            raise BadRemote("a git URL must be https://, http:// or ssh:// with a host and a path")
        if parts.password is not None:
            # It would be shown to every writer in the builds' trigger_metadata and logs.
            raise BadRemote("a git URL may not hold a password: give the trigger's deploy key read access")
        if not _HOST.match(parts.hostname):
            raise BadRemote("the git URL's host is not a host name or address")
        return Remote(url, parts.scheme, parts.hostname, port)
    m = _SCP.match(url)
    if m is None or "::" in url:
        raise BadRemote("a git URL must be https://, http://, ssh:// or user@host:path")
    host = m.group("host").strip("[]")
    if not _HOST.match(host):
        raise BadRemote("the git URL's host is not a host name or address")
    return Remote(url, "ssh", host, None)


async def check(
    url: str, settings: Settings, *, resolve: bool = True
) -> tuple[Remote, list[outbound.IPAddress]]:
    """The remote and the addresses its host resolved to (all allowed by the guard); raises
    BadRemote or outbound.OutboundRefused / OutboundFailed."""
    remote = parse(url)
    addresses = await outbound.check_url(remote.check_url, settings, resolve=resolve)
    return remote, addresses
