"""A server SIGKILLed in the middle of a chunked upload resumes it after a restart on the same data."""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.harness import SERVER_KIND, Server, require_tools, sha256_digest

if SERVER_KIND == "distribution":
    require_tools("docker-registry")

pytestmark = pytest.mark.e2e

NAME = "admin/e2e-crash"


def _with_digest(location: str, digest: str) -> str:
    # httpx's params= would replace the query the server put in Location (distribution's _state)
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def test_upload_survives_sigkill_and_abandoned_upload_stays_invisible(server: Server) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    digest = sha256_digest(data)
    half = len(data) // 2
    abandoned_data = os.urandom(64 * 1024)
    abandoned_digest = sha256_digest(abandoned_data)
    headers = server.auth_headers(f"repository:{NAME}:pull,push")
    octets = {"Content-Type": "application/octet-stream"}

    with httpx.Client(headers=headers, timeout=60) as c:
        r = c.post(f"{server.url}/v2/{NAME}/blobs/uploads/")
        assert r.status_code == 202, r.text
        location = urljoin(server.url, r.headers["Location"])
        r = c.patch(location, content=data[:half], headers={**octets, "Content-Range": f"0-{half - 1}"})
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{half - 1}"
        location = urljoin(server.url, r.headers["Location"])

        r = c.post(f"{server.url}/v2/{NAME}/blobs/uploads/")
        assert r.status_code == 202, r.text
        abandoned = urljoin(server.url, r.headers["Location"])
        r = c.patch(
            abandoned,
            content=abandoned_data,
            headers={**octets, "Content-Range": f"0-{len(abandoned_data) - 1}"},
        )
        assert r.status_code == 202, r.text

    server.restart(crash=True)
    assert server.starts == 2

    # the token from before the crash is still good: signing keys live in the data dir
    with httpx.Client(headers=headers, timeout=60) as c:
        r = c.get(location)
        assert r.status_code == 204, (r.status_code, r.text)
        assert r.headers["Range"] == f"0-{half - 1}"
        location = urljoin(server.url, r.headers.get("Location", location))

        r = c.patch(
            location, content=data[half:], headers={**octets, "Content-Range": f"{half}-{len(data) - 1}"}
        )
        assert r.status_code == 202, (r.status_code, r.text)
        assert r.headers["Range"] == f"0-{len(data) - 1}"
        location = urljoin(server.url, r.headers["Location"])

        r = c.put(_with_digest(location, digest), headers={"Content-Length": "0"})
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.headers["Docker-Content-Digest"] == digest

        r = c.head(f"{server.url}/v2/{NAME}/blobs/{digest}")
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == len(data)
        r = c.get(f"{server.url}/v2/{NAME}/blobs/{digest}", follow_redirects=True)
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == digest.removeprefix("sha256:")

        # the abandoned upload's bytes never became a blob
        assert c.head(f"{server.url}/v2/{NAME}/blobs/{abandoned_digest}").status_code == 404
        assert c.get(f"{server.url}/v2/{NAME}/blobs/{abandoned_digest}").status_code == 404
