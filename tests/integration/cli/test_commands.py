"""The `wharf` commands that work on an existing installation, run in-process through `main` (the
entry point the console script calls): what they print, their exit status, and the two lines
(`error:`, `hint:`) of a refusal. tests/process/test_cli.py runs a few of them as real processes."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text as sql

from tests.conftest import DB_BACKEND, fresh_database
from tests.integration.jobs import osv_samples
from wharf.cli import main
from wharf.core import mirrors, repositories
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database

T = TypeVar("T")


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Installation:
    """An installation `wharf migrate` made (a copy of the session's migrated template): its
    --data-dir, and its database (WHARF_DB_URI on PostgreSQL) for arranging what a test needs."""

    data_dir: Path
    db_uri: str
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def run(self, *args: str, stdin: str = "") -> Result:
        return wharf(self.capsys, self.monkeypatch, *args, "--data-dir", str(self.data_dir), stdin=stdin)

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        db = Database(self.db_uri, pool_size=1)
        try:
            return db.run_write(fn, *args, **kwargs)
        finally:
            db.dispose()


def wharf(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> Result:
    monkeypatch.setattr(sys, "argv", ["wharf", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return Result(code if isinstance(code, int) else 1, captured.out, captured.err)


def refusal(r: Result) -> tuple[int, str]:
    """A refused command's exit status and its `error:` line; the next line is its `hint:`."""
    lines = r.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), r.err
    return r.code, lines[0].removeprefix("error: ")


@pytest.fixture(autouse=True)
def no_wharf_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings come from the command's options only, as for an operator's shell."""
    import os

    for key in [k for k in os.environ if k.startswith("WHARF_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def installation(
    tmp_path: Path,
    migrated_template: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Installation]:
    data = tmp_path / "data"
    data.mkdir()
    if DB_BACKEND == "sqlite":
        shutil.copyfile(migrated_template, data / "wharf.db")
        yield Installation(data, f"sqlite+aiosqlite:///{data / 'wharf.db'}", capsys, monkeypatch)
        return
    with fresh_database(migrated_template) as uri:
        assert uri is not None
        monkeypatch.setenv("WHARF_DB_URI", uri)
        yield Installation(data, uri, capsys, monkeypatch)


def test_user_accounts_and_tokens(installation: Installation) -> None:
    r = installation.run("admin", "create-user", "opal", "--email", "o@example.com", stdin="opal-password\n")
    assert (r.code, r.out) == (0, "created user opal\n"), r.err
    r = installation.run("admin", "create-user", "root2", "--superuser", stdin="root2-password\n")
    assert r.out == "created user root2 (superuser)\n"
    code, error = refusal(installation.run("admin", "create-user", "opal", stdin="opal-password\n"))
    assert code == 1 and "opal" in error
    code, error = refusal(installation.run("admin", "create-user", "nopw", stdin=""))
    assert (code, error) == (2, "no password on standard input")

    r = installation.run("admin", "token", "opal", "--scope", "user:read")
    assert r.code == 0 and len(r.out.strip()) > 20, r.err
    code, error = refusal(installation.run("admin", "token", "opal", "--scope", "everything"))
    assert code == 2 and "everything" in error
    assert refusal(installation.run("admin", "token", "ghost")) == (1, "no user named 'ghost'")

    # without --yes it asks, and a "no" keeps the user
    r = installation.run("admin", "delete-user", "opal", stdin="n\n")
    assert r.code == 1 and "Delete user opal and all their repositories?" in r.out
    assert installation.run("admin", "token", "opal").code == 0
    assert installation.run("admin", "delete-user", "opal", stdin="y\n").out.endswith("deleted user opal\n")
    assert refusal(installation.run("admin", "delete-user", "opal", "--yes")) == (1, "no user named 'opal'")
    assert refusal(installation.run("admin", "token", "opal")) == (1, "no user named 'opal'")


def test_gc_and_quota_verify_report_in_text_and_json(installation: Installation) -> None:
    r = installation.run("admin", "gc", "--dry-run", "--grace-period", "0")
    assert r.code == 0, r.err
    assert r.out.startswith("would remove: 0 expired tags, 0 old tag lifetimes, 0 manifests")
    assert r.out.rstrip().endswith("0 blobs (0 B freed)")
    r = installation.run("admin", "gc", "--orphans", "--json")
    report = json.loads(r.out)
    assert report["blobs_removed"] == 0 and report["orphans"]["uploads_removed"] == 0
    r = installation.run("admin", "gc", "--orphans")
    assert "removed from storage: 0 orphan blobs, 0 orphan uploads" in r.out

    r = installation.run("admin", "quota", "verify")
    assert (r.code, r.out) == (0, "every stored size equals its recomputation\n")
    r = installation.run("admin", "quota", "verify", "--fix", "--json")
    assert json.loads(r.out) == {"fixed": True, "differences": []}


def test_seal_proxy_passwords_seals_what_an_older_wharf_stored_in_clear(
    installation: Installation, tmp_path: Path
) -> None:
    key_file = installation.data_dir / "keys" / "database-secret.key"
    code, error = refusal(installation.run("admin", "seal-proxy-passwords"))
    assert code == 2 and error.startswith("no secret key") and not key_file.exists()
    box = SecretBox.from_settings(None, key_file)  # the key `wharf serve` made
    repo = installation.write(repositories.create, "admin", "app", visibility="private", actor=None)
    settings = mirrors.Settings(
        external_reference="registry.example.com/proj/app",
        root_rule={"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        password="upstream-pw",
    )
    installation.write(mirrors.create, box, repo, settings, None)
    clear = "http://puller:pr0xy-pw@proxy.example.com:3128"
    before = json.dumps({"verify_tls": True, "proxy": {"http_proxy": clear}})
    statement = sql("UPDATE repo_mirror_configs SET external_registry_config = :c")
    installation.write(lambda db: db.execute(statement, {"c": before}))

    r = installation.run("admin", "seal-proxy-passwords", "--dry-run")
    assert (r.code, r.out) == (1, "repository mirror admin/app: http_proxy in clear\n"), r.err
    r = installation.run("admin", "seal-proxy-passwords", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {
        "dry_run": False,
        "in_clear": [{"kind": "repository mirror", "name": "admin/app", "fields": ["http_proxy"]}],
        "sealed": 1,
    }
    r = installation.run("admin", "seal-proxy-passwords")
    assert (r.code, r.out) == (0, "every mirror proxy password is sealed\n"), r.err
    stored = installation.write(lambda db: str(db.execute(sql("SELECT * FROM repo_mirror_configs")).all()))
    assert "pr0xy-pw" not in stored and "puller:********@" in stored
    mirror = installation.write(mirrors.require, repo.id)
    assert mirror.outbound_config(box)["proxy"]["http_proxy"] == clear

    # another key than the server's is refused before it seals anything with it
    config = tmp_path / "other-key.yaml"
    config.write_text("DATABASE_SECRET_KEY: not-the-servers\n")
    code, error = refusal(installation.run("admin", "seal-proxy-passwords", "--config", str(config)))
    assert code == 2 and "does not open" in error


def test_secscan_update_rescan_and_status(installation: Installation, tmp_path: Path) -> None:
    code, error = refusal(installation.run("secscan", "update"))
    assert (code, error) == (2, "no OSV data to import")
    (tmp_path / "notes.txt").write_text("not a zip")
    code, error = refusal(installation.run("secscan", "update", "--from", str(tmp_path / "notes.txt")))
    assert code == 2 and "neither a directory nor a zip" in error

    records = tmp_path / "osv"
    records.mkdir()
    for record in osv_samples.RECORDS:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    r = installation.run("secscan", "update", "--from", str(records))
    assert r.code == 0, r.err
    assert f"{records}: 3 records read: 3 imported, 0 unchanged, 0 skipped" in r.out
    r = installation.run("secscan", "update", "--from", str(records), "--json")
    assert [(x["imported"], x["unchanged"]) for x in json.loads(r.out)] == [(0, 3)]

    assert refusal(installation.run("secscan", "rescan", "app"))[0] == 2
    assert refusal(installation.run("secscan", "rescan", "admin/app")) == (
        1,
        "no repository named 'admin/app'",
    )
    installation.write(repositories.create, "admin", "app", visibility="private", actor=None)
    assert (
        installation.run("secscan", "rescan", "admin/app").out
        == "queued 0 manifests of admin/app for indexing\n"
    )
    digest = "sha256:" + "ab" * 32
    assert refusal(installation.run("secscan", "rescan", f"admin/app@{digest}")) == (
        1,
        f"admin/app holds no manifest {digest}",
    )

    r = installation.run("secscan", "status")
    assert r.out.splitlines()[:2] == [
        "indexes: none; 0 queued",
        "vulnerabilities: 3 records (newest modified 2024-09-18T03:25:54Z), 0 matches",
    ]
    status = json.loads(installation.run("secscan", "status", "--json").out)
    assert status["vulnerabilities"] == 3 and status["sources"] == []


def test_builds_signing_key_and_what_verify_cannot_find(installation: Installation, tmp_path: Path) -> None:
    assert refusal(installation.run("builds", "verify", "app")) == (
        2,
        "'app' is not namespace/name[:tag|@digest]",
    )
    code, error = refusal(installation.run("builds", "verify", "admin/app"))
    assert (code, error) == (2, "this Wharf has no build signing key yet")
    key = installation.run("builds", "signing-key").out
    assert (
        key.startswith("-----BEGIN PUBLIC KEY-----") and installation.run("builds", "signing-key").out == key
    )
    assert refusal(installation.run("builds", "verify", "admin/app:v1")) == (
        2,
        "no repository named 'admin/app'",
    )
    missing = tmp_path / "missing.pub"
    code, error = refusal(installation.run("builds", "verify", "admin/app@sha256:00", "--key", str(missing)))
    assert code == 2 and error.startswith(f"cannot read {missing}")
    installation.write(repositories.create, "admin", "app", visibility="private", actor=None)
    assert refusal(installation.run("builds", "verify", "registry.test:5000/admin/app")) == (
        2,
        "'registry.test:5000/admin/app' is not namespace/name[:tag|@digest]",
    )
    assert refusal(installation.run("builds", "verify", "admin/app:v1")) == (
        2,
        "admin/app holds no image v1",
    )


def test_what_main_says_when_a_command_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = wharf(capsys, monkeypatch, "--version")
    assert r.code == 0 and r.out.startswith("wharf ")
    nowhere = tmp_path / "nowhere"
    code, error = refusal(wharf(capsys, monkeypatch, "admin", "token", "admin", "--data-dir", str(nowhere)))
    assert (code, error) == (1, f"no Wharf database in {nowhere} (looked for {nowhere}/wharf.db)")
    assert not nowhere.exists()  # not a new, empty registry in the wrong place
    # `wharf migrate` makes the installation; then the commands read it
    r = wharf(capsys, monkeypatch, "migrate", "--data-dir", str(nowhere))
    assert (r.code, r.out) == (0, f"database is up to date (data directory {nowhere})\n"), r.err
    r = wharf(capsys, monkeypatch, "admin", "quota", "verify", "--data-dir", str(nowhere))
    assert (r.code, r.out) == (0, "every stored size equals its recomputation\n"), r.err

    config = tmp_path / "config.yaml"
    for text, expected in (
        ("DB_POOL_SIZE: lots\n", "DB_POOL_SIZE"),
        ("[a, list]\n", "must hold a mapping"),
        ("DB_URI: 'mysql://wharf@db/wharf'\n", "DB_URI: "),
        (f"REGISTRY_SIGNING_KEY_PATH: {tmp_path / 'signing.pem'}\n", "is not a file"),
    ):
        config.write_text(text)
        code, error = refusal(wharf(capsys, monkeypatch, "admin", "gc", "--config", str(config)))
        assert code == 2 and expected in error, error

    # a file where the data directory should be: an OSError, explained without a traceback
    (tmp_path / "file").write_text("")
    r = wharf(capsys, monkeypatch, "builds", "signing-key", "--data-dir", str(tmp_path / "file"))
    assert r.code == 1 and "check --data-dir" in r.err.splitlines()[1]
    # a database that is not Wharf's
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "wharf.db").write_bytes(b"")
    code, error = refusal(wharf(capsys, monkeypatch, "admin", "gc", "--data-dir", str(empty)))
    assert code == 1 and error.endswith("has no Wharf tables")
    # with --debug, what is not a CliError shows its traceback: it propagates from main
    with pytest.raises(OSError):
        monkeypatch.setattr(
            sys, "argv", ["wharf", "--debug", "builds", "signing-key", "--data-dir", str(tmp_path / "file")]
        )
        main()
