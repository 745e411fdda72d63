"""A small image pushed over HTTP (no client tools): one layer with one file, and a config with a
history, so that the web UI has tags, a manifest page and layers to show."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import httpx

from tests.e2e.harness import Server, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _layer(text: str) -> tuple[bytes, str]:
    """A gzipped tar holding /hello.txt, and the digest of the tar (the config's diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def _put_blob(client: httpx.Client, repo: str, blob: bytes) -> str:
    digest = sha256_digest(blob)
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = client.put(started.headers["location"], params={"digest": digest}, content=blob)
    assert done.status_code == 201, done.text
    return digest


def push_tiny_image(server: Server, repo: str, tag: str, text: str = "hello from wharf") -> str:
    """Push `repo:tag` and return the manifest's digest."""
    headers = server.auth_headers(f"repository:{repo}:pull,push")
    layer, diff_id = _layer(text)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "COPY hello.txt /"}],
        }
    ).encode()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        config_digest = _put_blob(client, repo, config)
        layer_digest = _put_blob(client, repo, layer)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        put = client.put(
            f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"content-type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
    return sha256_digest(manifest)
