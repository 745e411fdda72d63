"""A robot's credentials in every form Quay offers them: the login commands of podman and docker, a
Kubernetes pull secret, a `config.json` for docker and podman, and Mesos' `docker.tar.gz`. Pure
text and bytes from (host, username, token); the robot's page shows them, and serves the files.

While the registry is reached over plain HTTP (`PREFERRED_URL_SCHEME: http`), podman's command
carries `--tls-verify=false`: podman tries TLS first and would refuse the registry otherwise.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
from dataclasses import dataclass

FILES = {
    "secret.yml": "application/yaml",
    "config.json": "application/json",
    "docker.tar.gz": "application/gzip",
}
"""The downloads a robot's page offers, by the last part of their address."""


@dataclass(frozen=True, slots=True)
class Credentials:
    host: str
    username: str
    token: str
    insecure: bool
    """The registry is plain HTTP: clients must be told not to expect TLS."""

    @property
    def podman_login(self) -> str:
        tls = " --tls-verify=false" if self.insecure else ""
        return f"podman login{tls} -u {_quote(self.username)} -p {_quote(self.token)} {self.host}"

    @property
    def docker_login(self) -> str:
        return f"docker login -u {_quote(self.username)} -p {_quote(self.token)} {self.host}"

    @property
    def auth(self) -> str:
        """`user:token` in base64, as `auths.<host>.auth` of a config.json holds it."""
        return base64.b64encode(f"{self.username}:{self.token}".encode()).decode()

    @property
    def config_json(self) -> str:
        return json.dumps({"auths": {self.host: {"auth": self.auth}}}, indent=2) + "\n"

    @property
    def secret_name(self) -> str:
        """A Kubernetes object name (a DNS-1123 subdomain) from the robot's name: `acme+ci` as
        `acme-ci-pull-secret`."""
        base = re.sub(r"[^a-z0-9.-]+", "-", self.username.lower()).strip("-.") or "robot"
        return f"{base[:240]}-pull-secret"

    @property
    def kubernetes_secret(self) -> str:
        encoded = base64.b64encode(self.config_json.encode()).decode()
        return (
            "apiVersion: v1\n"
            "kind: Secret\n"
            "metadata:\n"
            f"  name: {self.secret_name}\n"
            "type: kubernetes.io/dockerconfigjson\n"
            "data:\n"
            f"  .dockerconfigjson: {encoded}\n"
        )

    def mesos_archive(self, mtime: int) -> bytes:
        """`docker.tar.gz` holding `.docker/config.json`: Mesos fetches it into a task's sandbox,
        which is the task's home directory, where docker finds the credentials."""
        body = self.config_json.encode()
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            folder = tarfile.TarInfo(".docker")
            folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o700, mtime
            tar.addfile(folder)
            entry = tarfile.TarInfo(".docker/config.json")
            entry.size, entry.mode, entry.mtime = len(body), 0o600, mtime
            tar.addfile(entry, io.BytesIO(body))
        return out.getvalue()

    def file(self, name: str, mtime: int) -> bytes:
        """The download `name` (one of FILES)."""
        if name == "secret.yml":
            return self.kubernetes_secret.encode()
        if name == "config.json":
            return self.config_json.encode()
        if name == "docker.tar.gz":
            return self.mesos_archive(mtime)
        raise KeyError(name)


def _quote(value: str) -> str:
    """Single-quoted for a POSIX shell (robot names and tokens hold no quote, but never trust that)."""
    return "'" + value.replace("'", "'\\''") + "'"
