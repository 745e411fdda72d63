"""os-release(5): `/etc/os-release`, or `/usr/lib/os-release` where /etc has none (it is often a
symbolic link to it)."""

from __future__ import annotations

from wharf.secscan.packages import Distribution

ETC = "etc/os-release"
USR_LIB = "usr/lib/os-release"


def wants(path: str) -> bool:
    return path in (ETC, USR_LIB)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
        # Shell-style escapes inside double quotes, the only ones os-release(5) allows.
        for escaped in ('\\"', "\\\\", "\\$", "\\`"):
            value = value.replace(escaped, escaped[1])
    return value


def parse(data: bytes) -> Distribution | None:
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        fields[key.strip()] = _unquote(value)
    if not fields.get("ID"):
        return None
    return Distribution(
        id=fields["ID"].lower(),
        version_id=fields.get("VERSION_ID", ""),
        version_codename=fields.get("VERSION_CODENAME", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").split()),
    )
