"""A small registry client for the integration tests: token dance, blob and manifest pushes."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx

from tests.conftest import ADMIN_PASSWORD
from wharf.app import WharfApp
from wharf.core import accounts
from wharf.oci import mediatypes as mt


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    def __init__(self, client: httpx.AsyncClient, wharf: WharfApp) -> None:
        self.http = client
        self.wharf = wharf
        self._tokens: dict[tuple[str, str | None], str] = {}

    async def create_user(self, name: str, password: str = "pw-" + "x" * 8) -> None:
        await self.wharf.rt.db.write(accounts.create_user, name, password, f"{name}@example.com")

    async def token(self, *scopes: str, user: str | None = "admin", password: str = ADMIN_PASSWORD) -> str:
        params: list[tuple[str, str | int | float | bool | None]] = [("service", "registry.test")]
        params += [("scope", s) for s in scopes]
        auth = (user, password) if user is not None else None
        r = await self.http.get("/v2/auth", params=params, auth=auth)
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    async def headers(self, repo: str, actions: str = "pull,push", **kw: Any) -> dict[str, str]:
        key = (f"{repo}:{actions}", kw.get("user", "admin"))
        if key not in self._tokens:
            self._tokens[key] = await self.token(f"repository:{repo}:{actions}", **kw)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def push_blob(self, repo: str, data: bytes, **kw: Any) -> str:
        digest = sha256(data)
        r = await self.http.post(
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers=await self.headers(repo, **kw),
        )
        assert r.status_code == 201, r.text
        return digest

    async def push_manifest(
        self, repo: str, reference: str, manifest: dict[str, Any] | bytes, media_type: str = mt.OCI_MANIFEST
    ) -> httpx.Response:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return await self.http.put(
            f"/v2/{repo}/manifests/{reference}",
            content=body,
            headers={**await self.headers(repo), "Content-Type": media_type},
        )

    async def push_image(
        self,
        repo: str,
        tag: str | None = None,
        layers: int = 2,
        media_type: str = mt.OCI_MANIFEST,
        **extra: Any,
    ) -> tuple[str, dict[str, Any]]:
        """Push random layers, a config and a manifest; returns (manifest digest, manifest)."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
        layer_descs = []
        for _ in range(layers):
            data = os.urandom(1024)
            layer_descs.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": await self.push_blob(repo, data),
                    "size": len(data),
                }
            )
        config_type = (
            mt.DOCKER_CONFIG
            if media_type == mt.DOCKER_MANIFEST
            else "application/vnd.oci.image.config.v1+json"
        )
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": config_type,
                "digest": await self.push_blob(repo, config),
                "size": len(config),
            },
            "layers": layer_descs,
            **extra,
        }
        body = json.dumps(manifest).encode()
        digest = sha256(body)
        r = await self.push_manifest(repo, tag or digest, body, media_type)
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == digest
        return digest, manifest
