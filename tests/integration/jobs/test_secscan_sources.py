"""The scheduled update from SECURITY_SCANNER_VULN_SOURCES: OSV zips served by a local HTTP
server are downloaded through the outbound guard, only when they changed, imported, and each
source's last success or error recorded (issue 16)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.jobs import osv_samples
from tests.integration.jobs.test_secscan import BASE, OPENSSL, REPO, drain, push_image
from tests.integration.registry_client import sha256
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.core import secscan as store
from wharf.integrations import outbound
from wharf.jobs import runner


@dataclass
class OsvServer:
    """Serves `files` (path -> (etag, body)), honouring If-None-Match; records what it was asked."""

    port: int
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    """path -> where it is moved to (a 302)."""
    asked: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def osv_server() -> Iterator[OsvServer]:
    state = OsvServer(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            condition = self.headers.get("If-None-Match")
            state.asked.append((self.path, condition))
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            found = state.files.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag, body = found
            if condition == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def settings(
    data_dir: Path, db_uri: str | None, storage_config: dict[str, object], osv_server: OsvServer
) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        **storage_config,
        "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
        "SECURITY_SCANNER_VULN_SOURCES": [osv_server.url("/Debian/all.zip"), osv_server.url("/Gone/all.zip")],
    }
    return load_settings(None, overrides, environ={})


async def test_sources_are_downloaded_when_changed_and_their_state_recorded(
    world: World, osv_server: OsvServer, tmp_path: Path
) -> None:
    rt = world.reg.wharf.rt
    zip_path = osv_samples.write_zip(tmp_path / "v1.zip", osv_samples.RECORDS)
    osv_server.files["/Debian/all.zip"] = ('"v1"', zip_path.read_bytes())
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    assert runner.periodic(rt)["secscan_update"] == rt.settings.SECURITY_SCANNER_UPDATE_INTERVAL

    # Never updated: the backfill asks for an update now, not an interval after start.
    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    report = await rt.db.read(store.report, digest)
    assert report is not None and len(report.vulnerabilities) == 2  # libssl3 and libc6
    debian, gone = await rt.db.read(store.sources)
    assert (debian.url, debian.etag, debian.imported, debian.last_error) == (
        osv_server.url("/Debian/all.zip"),
        '"v1"',
        3,
        None,
    )
    assert debian.last_success_ms is not None
    assert gone.last_success_ms is None and "answered 404" in (gone.last_error or "")

    # Unchanged on the server: asked with its ETag, answered 304, nothing imported.
    await runner.HANDLERS["secscan_update"](rt, {})
    assert osv_server.asked[-2:] == [("/Debian/all.zip", '"v1"'), ("/Gone/all.zip", None)]
    unchanged = await rt.db.read(store.get_source, osv_server.url("/Debian/all.zip"))
    assert unchanged is not None and (unchanged.etag, unchanged.imported) == ('"v1"', 0)

    # New data: the openssl record now names a fix below the installed version; only that record
    # is imported, and the stored image re-matched.
    moved = {**osv_samples.OPENSSL_PKCS12, "modified": "2025-01-01T00:00:00Z"}
    moved["affected"] = [
        {
            "package": {"name": "openssl", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}],
        }
    ]
    v2 = osv_samples.write_zip(
        tmp_path / "v2.zip", [moved, osv_samples.OPENSSL_X400, osv_samples.GLIBC_ICONV]
    )
    osv_server.files["/Debian/all.zip"] = ('"v2"', v2.read_bytes())
    await runner.HANDLERS["secscan_update"](rt, {})
    updated = await rt.db.read(store.get_source, osv_server.url("/Debian/all.zip"))
    assert updated is not None and (updated.etag, updated.imported) == ('"v2"', 1)
    report = await rt.db.read(store.report, digest)
    assert report is not None and len(report.vulnerabilities) == 1  # libc6's only


async def test_a_download_follows_checked_redirects_and_stops_at_its_cap(
    world: World, osv_server: OsvServer, tmp_path: Path
) -> None:
    settings = world.reg.wharf.rt.settings
    osv_server.files["/mirror/all.zip"] = ('"m1"', b"z" * 1000)
    osv_server.redirects["/all.zip"] = "/mirror/all.zip"
    osv_server.redirects["/elsewhere.zip"] = "http://10.0.0.1/all.zip"  # internal, not allowed
    dest = tmp_path / "got.zip"

    got = await outbound.download(osv_server.url("/all.zip"), settings, dest, max_bytes=1000)
    assert (got.modified, got.etag, got.size, dest.read_bytes()) == (True, '"m1"', 1000, b"z" * 1000)
    again = await outbound.download(osv_server.url("/all.zip"), settings, dest, max_bytes=1000, etag='"m1"')
    assert not again.modified and osv_server.asked[-1] == ("/mirror/all.zip", '"m1"')

    with pytest.raises(outbound.OutboundFailed, match="larger than 999 bytes"):
        await outbound.download(osv_server.url("/all.zip"), settings, dest, max_bytes=999)
    with pytest.raises(outbound.OutboundRefused):
        await outbound.download(osv_server.url("/elsewhere.zip"), settings, dest, max_bytes=1000)
