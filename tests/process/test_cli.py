"""The `wharf` command line as an operator uses it: help, exit codes, admin commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.process.server import WharfServer

WHARF = str(Path(sys.executable).parent / "wharf")


def run(*args: str, stdin: str = "", db_uri: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    if db_uri:
        env["WHARF_DB_URI"] = db_uri
    return subprocess.run([WHARF, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env)


def test_help_and_version() -> None:
    for args in (["--help"], ["serve", "--help"], ["admin", "--help"], ["admin", "token", "--help"]):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        assert "Usage" in r.stdout
    assert run("--version").stdout.startswith("wharf ")
    assert run("no-such-command").returncode == 2


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("DB_POOL_SIZE: lots\n")
    r = run("migrate", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2
    assert "DB_POOL_SIZE" in r.stderr
    # a shared signing key that is not there is an error, not a new key only this node knows
    missing = tmp_path / "shared" / "signing.pem"
    config.write_text(f"REGISTRY_SIGNING_KEY_PATH: {missing}\n")
    r = run("migrate", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2
    assert "REGISTRY_SIGNING_KEY_PATH" in r.stderr and "openssl genpkey" in r.stderr
    assert not missing.exists()


def test_admin_commands_against_a_running_server(server: WharfServer, tmp_path: Path) -> None:
    data = ["--data-dir", str(server.data_dir)]
    db = server.db_uri
    r = run(
        "admin", "create-user", "opal", "--email", "o@example.com", *data, stdin="opal-password\n", db_uri=db
    )
    assert r.returncode == 0, r.stderr
    assert run("admin", "create-user", "opal", *data, stdin="opal-password\n", db_uri=db).returncode == 1
    assert run("admin", "create-user", "nopw", *data, stdin="", db_uri=db).returncode == 2
    # the user logs in to the registry
    r = httpx.get(
        f"{server.url}/v2/auth", params={"scope": "repository:opal/x:push"}, auth=("opal", "opal-password")
    )
    assert r.status_code == 200
    token = run("admin", "token", "opal", "--scope", "user:read", *data, db_uri=db).stdout.strip()
    me = httpx.get(f"{server.url}/api/v1/user/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "opal"
    assert run("admin", "token", "ghost", *data, db_uri=db).returncode == 1
    r = run("admin", "delete-user", "opal", "--yes", *data, db_uri=db)
    assert r.returncode == 0, r.stderr
    me = httpx.get(f"{server.url}/api/v1/user/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_too_short_admin_password_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env["WHARF_ADMIN_PASSWORD"] = "short"
    r = subprocess.run(
        [WHARF, "serve", "--data-dir", str(tmp_path / "d"), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2
    assert "WHARF_ADMIN_PASSWORD" in r.stderr and "Traceback" not in r.stderr


def test_json_logs_with_request_ids(tmp_path: Path, db_uri: str | None) -> None:
    srv = WharfServer(tmp_path / "data", "process-test-pw", db_uri=db_uri)
    srv.start(extra_args=("--log-level", "info", "--log-format", "json", "--access-log"))
    try:
        answer = httpx.get(f"{srv.url}/v2/", headers={"X-Request-ID": "trace-42"})
        assert answer.headers["x-request-id"] == "trace-42"
        ready = httpx.get(f"{srv.url}/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
    finally:
        srv.stop()
    lines = [json.loads(line) for line in srv.log.read_text().splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry["logger"] == "wharf.access"]
    mine = next(entry for entry in access if entry.get("request_id") == "trace-42")
    assert (
        mine["http"]["path"] == "/v2/"
        and mine["http"]["status"] == 401
        and mine["http"]["route"] == "v2_base"
    )
    assert {"time", "level", "message"} <= set(mine)


def test_admin_gc_sweeps_orphans_on_request(tmp_path: Path, db_uri: str | None) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert run("migrate", *data, db_uri=db_uri).returncode == 0
    stray = tmp_path / "data" / "storage" / "uploads" / "9d6c1a52-0000-4000-8000-000000000000"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"an upload whose row is gone")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stray, (two_days_ago, two_days_ago))

    plain = run("admin", "gc", "--json", *data, db_uri=db_uri)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["orphans"] is None  # only on request: it lists every blob
    rehearsal = run("admin", "gc", "--orphans", "--dry-run", "--json", *data, db_uri=db_uri)
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert json.loads(rehearsal.stdout)["orphans"]["uploads_removed"] == 1
    assert stray.exists()
    swept = run("admin", "gc", "--orphans", *data, db_uri=db_uri)
    assert swept.returncode == 0, swept.stderr
    assert "1 orphan uploads" in swept.stdout
    assert not stray.exists()
