"""CNCF distribution (`docker-registry`, the Debian package) on loopback, as an upstream registry for
proxy-cache tests: anonymous, or with htpasswd (Basic) authentication, over plain HTTP or over
HTTPS with a self-signed certificate (`tls=True`). Images are pushed into it over its own /v2 API."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess, free_port
from tests.waiting import wait_until
from wharf.oci import mediatypes as mt


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def require_distribution() -> None:
    if shutil.which("docker-registry") is None:
        pytest.skip("not installed: docker-registry (Debian: apt-get install docker-registry)")


class Distribution(ServerProcess):
    """One `docker-registry serve` on 127.0.0.1, its blobs under `workdir/data`."""

    def __init__(
        self, workdir: Path, *, user: str | None = None, password: str | None = None, tls: bool = False
    ) -> None:
        super().__init__(workdir / "distribution.log", "docker-registry")
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.user, self.password = user, password
        self.tls = tls
        """HTTPS with a self-signed certificate for 127.0.0.1 (the test's own calls skip its check)."""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user and self.password else None

    def start(self) -> None:
        import bcrypt

        self.data_dir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.user and self.password:
            hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
            (self.workdir / "htpasswd").write_text(f"{self.user}:{hashed}\n")
            auth = f"auth:\n  htpasswd:\n    realm: upstream\n    path: {self.workdir / 'htpasswd'}\n"
        tls = ""
        if self.tls:
            cert, key = self._self_signed()
            tls = f"  tls:\n    certificate: {cert}\n    key: {key}\n"
        config = self.workdir / "distribution.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.data_dir}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: proxy-cache-test-secret\n{tls}{auth}"
        )
        # distribution reads REGISTRY_* variables as configuration overrides: never pass any.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.launch(["docker-registry", "serve", str(config)], env, None)

        def ready() -> bool:
            try:
                return httpx.get(self.url + "/v2/", timeout=2, verify=False).status_code in (200, 401)
            except httpx.HTTPError:
                return False

        wait_until(ready, "docker-registry to answer /v2/", timeout_s=30, interval_s=0.1)

    def _self_signed(self) -> tuple[Path, Path]:
        """A certificate for 127.0.0.1 that signs itself (no CA trusts it), and its key."""
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
            )
            .sign(key, hashes.SHA256())
        )
        cert_file, key_file = self.workdir / "tls.crt", self.workdir / "tls.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file

    def blob_file(self, digest: str) -> Path:
        """Where distribution keeps a blob's bytes (to corrupt them in a test)."""
        hex_ = digest.split(":", 1)[1]
        return self.data_dir / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        r = httpx.post(
            f"{self.url}/v2/{repo}/blobs/uploads/", auth=self.auth, timeout=30, verify=not self.tls
        )
        assert r.status_code == 202, r.text
        location = httpx.URL(self.url).join(r.headers["location"])
        r = httpx.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            auth=self.auth,
            timeout=30,
            verify=not self.tls,
        )
        assert r.status_code == 201, r.text
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        r = httpx.put(
            f"{self.url}/v2/{repo}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
            auth=self.auth,
            timeout=30,
            verify=not self.tls,
        )
        assert r.status_code == 201, r.text
        return sha256(body)

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest (and so its tags) from the registry, as a tag vanishing upstream."""
        r = httpx.delete(
            f"{self.url}/v2/{repo}/manifests/{digest}", auth=self.auth, timeout=30, verify=not self.tls
        )
        assert r.status_code == 202, r.text

    def push_image(
        self, repo: str, tag: str | None, *, arch: str = "amd64", layer_size: int = 2048
    ) -> tuple[str, dict[str, Any], list[bytes]]:
        """Random layers, a config and an OCI manifest; (digest, manifest, [config, layers...])."""
        config = json.dumps({"architecture": arch, "os": "linux", "nonce": os.urandom(8).hex()}).encode()
        layers = [os.urandom(layer_size), os.urandom(layer_size)]
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": self.push_blob(repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": self.push_blob(repo, layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
        body = json.dumps(manifest).encode()
        digest = self.push_manifest(repo, tag or sha256(body), body, mt.OCI_MANIFEST)
        return digest, manifest, [config, *layers]

    def push_index(
        self, repo: str, tag: str, arches: tuple[str, ...] = ("amd64", "arm64")
    ) -> tuple[str, list[str]]:
        """One image per architecture and an OCI index of them; (index digest, image digests)."""
        children: list[dict[str, Any]] = []
        for arch in arches:
            digest, manifest, _ = self.push_image(repo, None, arch=arch)
            size = len(json.dumps(manifest).encode())
            children.append(
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": digest,
                    "size": size,
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children}).encode()
        return self.push_manifest(repo, tag, body, mt.OCI_INDEX), [str(c["digest"]) for c in children]
