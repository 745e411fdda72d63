"""A small registry client: keep-alive HTTP, and Docker token auth discovered from `GET /v2/`."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
NAMESPACE = "admin"  # Wharf's superuser namespace; distribution gets the same names


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def with_digest(location: str, digest: str) -> str:
    """Add ?digest= to an upload URL, keeping whatever state the registry put in its query."""
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def parse_challenge(header: str) -> dict[str, str]:
    """`Bearer realm="...",service="..."` -> {"realm": ..., "service": ...}."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise RuntimeError(f"unsupported auth challenge: {header!r}")
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


class Registry:
    """One server seen as a client sees it. Tokens are fetched once per set of scopes and reused."""

    def __init__(self, url: str, credentials: tuple[str, str] | None) -> None:
        self.url = url
        self.credentials = credentials
        self.http = self.client()
        self._tokens: dict[frozenset[str], str] = {}
        self._lock = threading.Lock()
        self.token_requests = 0
        r = self.http.get("/v2/")
        if r.status_code == 200:
            self.challenge: dict[str, str] | None = None
        elif r.status_code == 401:
            self.challenge = parse_challenge(r.headers["WWW-Authenticate"])
            if credentials is None:
                raise RuntimeError(f"{url} wants a token but the benchmark has no credentials for it")
        else:
            raise RuntimeError(f"GET {url}/v2/ answered {r.status_code}")

    def client(self) -> httpx.Client:
        """A fresh keep-alive client (one per thread for concurrent work)."""
        return httpx.Client(base_url=self.url, timeout=httpx.Timeout(300, connect=10))

    def absolute(self, location: str) -> str:
        return location if location.startswith("http") else self.url + location

    # -- auth ---------------------------------------------------------------------------------------

    def headers(self, *scopes: str) -> dict[str, str]:
        """Authorization headers for these scopes: the token dance on first use, then from the cache."""
        if self.challenge is None:
            return {}
        key = frozenset(scopes)
        with self._lock:
            token = self._tokens.get(key)
        if token is None:
            params: list[tuple[str, str | int | float | bool | None]] = [
                ("service", self.challenge.get("service", "")),
                *[("scope", s) for s in scopes],
            ]
            r = self.http.get(self.challenge["realm"], params=params, auth=self.credentials)
            r.raise_for_status()
            body = r.json()
            token = str(body.get("token") or body["access_token"])
            with self._lock:
                self._tokens[key] = token
                self.token_requests += 1
        return {"Authorization": f"Bearer {token}"}

    def repo_headers(self, repo: str) -> dict[str, str]:
        return self.headers(f"repository:{repo}:pull,push")

    def catalog_headers(self) -> dict[str, str]:
        return self.headers("registry:catalog:*")

    # -- pushing ------------------------------------------------------------------------------------

    def start_upload(self, repo: str, http: httpx.Client | None = None) -> str:
        r = (http or self.http).post(f"/v2/{repo}/blobs/uploads/", headers=self.repo_headers(repo))
        if r.status_code != 202:
            raise RuntimeError(f"POST upload in {repo}: {r.status_code} {r.text[:300]}")
        return self.absolute(r.headers["Location"])

    def push_blob(self, repo: str, data: bytes, http: httpx.Client | None = None) -> str:
        """POST then one PUT with the whole body (distribution 2.8 ignores a body on POST ?digest=)."""
        digest = sha256(data)
        location = self.start_upload(repo, http)
        r = (http or self.http).put(
            with_digest(location, digest),
            content=data,
            headers={**self.repo_headers(repo), "Content-Type": "application/octet-stream"},
        )
        if r.status_code != 201:
            raise RuntimeError(f"PUT blob in {repo}: {r.status_code} {r.text[:300]}")
        return digest

    def put_manifest(self, repo: str, ref: str, body: bytes, http: httpx.Client | None = None) -> str:
        r = (http or self.http).put(
            f"/v2/{repo}/manifests/{ref}",
            content=body,
            headers={**self.repo_headers(repo), "Content-Type": OCI_MANIFEST},
        )
        if r.status_code != 201:
            raise RuntimeError(f"PUT manifest {repo}:{ref}: {r.status_code} {r.text[:300]}")
        return sha256(body)

    def image_manifest(self, repo: str, layers: list[bytes], note: str = "") -> dict[str, Any]:
        """Push a config and these layers; return an OCI image manifest that refers to them."""
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "n": note}
        ).encode()
        return {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.push_blob(repo, config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": self.push_blob(repo, data), "size": len(data)}
                for data in layers
            ],
        }

    def close(self) -> None:
        self.http.close()
