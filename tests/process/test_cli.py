"""The `wharf` command line as an operator uses it: help, exit codes, admin commands."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.process.server import WharfServer, free_port

WHARF = str(Path(sys.executable).parent / "wharf")


def run(
    *args: str, stdin: str = "", db_uri: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    if db_uri:
        env["WHARF_DB_URI"] = db_uri
    return subprocess.run(
        [WHARF, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


def _error_and_hint(r: subprocess.CompletedProcess[str]) -> str:
    """A failed command's stderr: one `error:` line, one `hint:` line, no traceback."""
    lines = r.stderr.splitlines()
    assert r.returncode != 0 and len(lines) == 2, r.stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), r.stderr
    return lines[0]


def test_help_and_version() -> None:
    for args in (["--help"], ["serve", "--help"], ["admin", "--help"], ["admin", "token", "--help"]):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        assert "Usage" in r.stdout
    assert run("--version").stdout.startswith("wharf ")
    assert run("no-such-command").returncode == 2


def test_help_reads_as_text() -> None:
    for args in (["--help"], ["serve"], ["worker"], ["admin"], ["admin", "gc"], ["admin", "create-user"]):
        text = run(*args, "--help").stdout if args != ["--help"] else run("--help").stdout
        assert "<bool>" not in text  # a flag takes no value
        # paragraphs are filled to the width: no sentence broken after a word or two
        description = text.split("\n\n")[1]
        lines = [line.strip() for line in description.splitlines()]
        assert all(len(line) > 50 for line in lines[:-1]), description
    serve = " ".join(run("serve", "--help").stdout.split())
    assert "--data-dir DIR Directory for the SQLite database, blobs and keys. [default: ./data]" in serve
    assert "--host ADDRESS" in serve and "--no-workers Serve requests only" in serve


def test_unreachable_database_is_an_error_and_a_hint(tmp_path: Path) -> None:
    nobody = f"postgresql://wharf:secret-pw@127.0.0.1:{free_port()}/wharf"
    data = ["--data-dir", str(tmp_path / "data")]
    for args in (["migrate"], ["serve", "--port", "1"], ["worker"], ["admin", "gc"]):
        r = run(*args, *data, db_uri=nobody)
        assert r.returncode == 1
        assert _error_and_hint(r).startswith("error: cannot connect to the database: connection failed")
        assert "secret-pw" not in r.stderr
    # the traceback, on request
    r = run("--debug", "migrate", *data, db_uri=nobody)
    assert r.returncode == 1 and "Traceback" in r.stderr and "OperationalError" in r.stderr
    # a URI Wharf has no driver for is a configuration error
    r = run("migrate", *data, db_uri="mysql://wharf@db/wharf")
    assert r.returncode == 2 and _error_and_hint(r).startswith("error: DB_URI: unsupported database")


def test_commands_on_an_installation_refuse_a_missing_one(tmp_path: Path, db_uri: str | None) -> None:
    # run in the wrong directory, they say where they looked instead of making an empty registry
    where = tmp_path / "data"
    for args in (["admin", "token", "admin"], ["admin", "gc"], ["worker"]):
        error = _error_and_hint(run(*args, db_uri=db_uri, cwd=tmp_path))
        if db_uri is None:
            assert error == f"error: no Wharf database in {where} (looked for {where}/wharf.db)"
        else:
            assert error.startswith("error: the database postgresql") and "has no Wharf tables" in error
        assert not where.exists()
    # migrate (as serve) makes the installation; then they read it
    assert run("migrate", db_uri=db_uri, cwd=tmp_path).returncode == 0
    r = run("admin", "token", "admin", db_uri=db_uri, cwd=tmp_path)
    assert _error_and_hint(r) == "error: no user named 'admin'"  # migrate creates no admin
    assert run("admin", "gc", db_uri=db_uri, cwd=tmp_path).returncode == 0


def test_first_starts_say_what_they_did(tmp_path: Path, db_uri: str | None) -> None:
    srv = WharfServer(tmp_path / "data", "first-password", db_uri=db_uri)
    srv.start(extra_args=("--log-level", "info"))
    try:
        # a client that speaks TLS to the plain-HTTP port (podman without --tls-verify=false)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as probe:
            probe.sendall(bytes.fromhex("16030100a5010000a10303") + bytes(32))
            assert probe.recv(100) == b""  # closed, without an HTTP answer it could not read
    finally:
        srv.stop()
    srv.password = "another-password"
    srv.start(extra_args=("--log-level", "info"))
    srv.stop()
    log = srv.log.read_text()
    assert log.count("created the superuser 'admin' with the password in WHARF_ADMIN_PASSWORD") == 1
    assert log.count("WHARF_ADMIN_PASSWORD is ignored: 'admin' exists with another password") == 1
    assert log.count("a client (127.0.0.1) spoke TLS to this plain-HTTP port") == 1
    assert "Invalid HTTP request" not in log
    # alembic says what it migrated, not which plugins and dialect it set up
    assert "Running upgrade" in log and "setup plugin" not in log and "Context impl" not in log
    assert log.count(f"data directory {srv.data_dir.resolve()}") == 2


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
    # a key the server cannot sign with is refused when it starts, not at its first token
    missing.parent.mkdir()
    missing.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    r = run("serve", "--port", str(free_port()), "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2
    assert "registry signing key is unusable" in _error_and_hint(r)


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
    login = httpx.get(
        f"{server.url}/v2/auth", params={"scope": "repository:opal/x:push"}, auth=("opal", "opal-password")
    )
    assert login.status_code == 200
    token = run("admin", "token", "opal", "--scope", "user:read", *data, db_uri=db).stdout.strip()
    # /api/v1 is built on its first request: seconds on a busy machine, hence the timeout
    me = httpx.get(f"{server.url}/api/v1/user/", headers={"Authorization": f"Bearer {token}"}, timeout=60)
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


def test_admin_quota_verify(tmp_path: Path, db_uri: str | None) -> None:
    data = str(tmp_path / "data")
    assert run("migrate", "--data-dir", data, db_uri=db_uri).returncode == 0
    r = run("admin", "quota", "verify", "--data-dir", data, "--json", db_uri=db_uri)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"fixed": False, "differences": []}
    r = run("admin", "quota", "verify", "--data-dir", data, db_uri=db_uri)
    assert r.stdout == "every stored size equals its recomputation\n"
    assert "--fix" in run("admin", "quota", "verify", "--help").stdout
