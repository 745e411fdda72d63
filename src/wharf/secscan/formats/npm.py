"""npm packages: `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json`,
at any depth. A package.json elsewhere (a project's own, or a file inside a package) is not an
installed package."""

from __future__ import annotations

import json

from wharf.secscan.packages import Kind, Package


def wants(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith("@")
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def parse(data: bytes, path: str) -> list[Package]:
    try:
        manifest = json.loads(data)
    except ValueError:
        return []
    if not isinstance(manifest, dict):
        return []
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [Package(Kind.NPM, name, version, path=path)]
