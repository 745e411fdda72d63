"""`wharf secscan update` and `wharf secscan status` as an operator of an air-gapped site uses
them: import an OSV zip, import it again, look at the state."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.jobs import osv_samples
from tests.process.test_cli import _error_and_hint, run


def test_update_imports_an_osv_zip_once_and_status_shows_it(tmp_path: Path, db_uri: str | None) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert run("migrate", *data, db_uri=db_uri).returncode == 0
    archive = osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS)

    first = run("secscan", "update", "--from", str(archive), "--json", *data, db_uri=db_uri)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == [
        {
            "source": str(archive),
            "read": 3,
            "imported": 3,
            "unchanged": 0,
            "skipped": 0,
            "packages_rematched": 0,
            "matches": 0,
        }
    ]
    again = run("secscan", "update", "--from", str(archive), *data, db_uri=db_uri)
    assert again.returncode == 0, again.stderr
    assert f"{archive}: 3 records read: 0 imported, 3 unchanged, 0 skipped" in again.stdout
    assert "importing" in again.stderr  # the progress bar

    status = run("secscan", "status", "--json", *data, db_uri=db_uri)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "indexes": {},
        "waiting": 0,
        "vulnerabilities": 3,
        "newest_modified": "2024-09-18T03:25:54Z",
        "matches": 0,
        "sources": [],
    }
    plain = run("secscan", "status", *data, db_uri=db_uri)
    assert "vulnerabilities: 3 records" in plain.stdout


def test_update_explains_a_source_it_cannot_read(tmp_path: Path, db_uri: str | None) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert run("migrate", *data, db_uri=db_uri).returncode == 0
    (tmp_path / "notes.txt").write_text("not a zip")
    r = run("secscan", "update", "--from", str(tmp_path / "notes.txt"), *data, db_uri=db_uri)
    assert "neither a directory nor a zip" in _error_and_hint(r)
    assert r.returncode == 2


def test_update_without_from_imports_the_configured_sources(tmp_path: Path, db_uri: str | None) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert run("migrate", *data, db_uri=db_uri).returncode == 0
    r = run("secscan", "update", *data, db_uri=db_uri)
    assert "no OSV data to import" in _error_and_hint(r)

    archive = osv_samples.write_zip(tmp_path / "all.zip", osv_samples.RECORDS[:1])
    config = tmp_path / "config.yaml"
    config.write_text(f"SECURITY_SCANNER_VULN_SOURCES: ['{archive}']\n")
    r = run("secscan", "update", "--json", "--config", str(config), *data, db_uri=db_uri)
    assert r.returncode == 0, r.stderr
    assert [x["imported"] for x in json.loads(r.stdout)] == [1]

    status = json.loads(
        run("secscan", "status", "--json", "--config", str(config), *data, db_uri=db_uri).stdout
    )
    [source] = status["sources"]
    assert (source["url"], source["imported"], source["last_error"]) == (str(archive), 1, None)

    # A URL is fetched through the outbound guard, which refuses internal addresses.
    config.write_text("SECURITY_SCANNER_VULN_SOURCES: ['http://127.0.0.1:9/all.zip']\n")
    r = run("secscan", "update", "--config", str(config), *data, db_uri=db_uri)
    assert "http://127.0.0.1:9/all.zip" in _error_and_hint(r)
    plain = run("secscan", "status", "--config", str(config), *data, db_uri=db_uri).stdout
    assert "source http://127.0.0.1:9/all.zip: last success never (0 records imported); last attempt" in plain


def test_rescan_names_what_it_cannot_find(tmp_path: Path, db_uri: str | None) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert run("migrate", *data, db_uri=db_uri).returncode == 0
    assert "no repository named 'acme/app'" in _error_and_hint(
        run("secscan", "rescan", "acme/app", *data, db_uri=db_uri)
    )
    assert "is not namespace/name" in _error_and_hint(run("secscan", "rescan", "app", *data, db_uri=db_uri))
