"""A `wharf serve` on the embedded defaults imports only what it uses: the /api/v1 application
(FastAPI), the web pages (Jinja2, Markdown), the S3 client, SMTP, outbound HTTP and Alembic stay
out of memory until a request or the configuration needs them, and cryptography and PyJWT until
the first token.

The server's own `sys.modules` is read through a `sitecustomize` hook that only this test puts on
the server's PYTHONPATH: on SIGUSR1 it writes the names of the loaded modules to a file.

Every `wharf` process starts by importing the command line, and the test suite starts hundreds: it
imports only what `wharf --help` needs, and the settings module reads no source code."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.process.server import WharfServer, wait_until

HOOK = """
import os, signal, sys

def _dump(_signum, _frame):
    out = os.environ["WHARF_TEST_MODULES_OUT"]
    with open(out + ".tmp", "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
    os.replace(out + ".tmp", out)

if os.environ.get("WHARF_TEST_MODULES_OUT"):
    signal.signal(signal.SIGUSR1, _dump)
"""

# Loaded only when used: the first /api/v1 request, the first page, a configured S3 store or
# mail server, a webhook or OIDC call; Alembic never (`wharf serve` migrates in a child process, and
# /health/ready compares the schema with db/revision.HEAD). botocore and smtplib are not
# dependencies at all; listed so that nobody makes them one on the serving path.
LAZY = (
    "fastapi",
    "wharf.api.app",
    "jinja2",
    "markdown_it",
    "wharf.web.render",
    "wharf.web.pages.repository",
    "alembic",
    "mako",
    "wharf.db.migrate",
    "httpx",
    "obstore",
    "wharf.storage.s3",
    "aiosmtplib",
    "smtplib",
    "botocore",
    "boto3",
    "websockets",
    "watchfiles",  # uvicorn's reloader: Wharf never reloads, and does not install it
    # scanning's libraries, imported by the first indexing or update job (jobs/secscan.py)
    "wharf.secscan.versions",
    "univers",
    "cvss",
    "zstandard",
    # SBOMs: their service and the purl library, imported by the first SBOM request or referrer
    "wharf.services.secscan_sbom",
    "wharf.secscan.sbom",
    "packageurl",
    # The RE2 engine (~2.4 MiB) of saved patterns, compiled by the first policy a tag change meets
    # or trigger a push reaches (core/saved_regex.py): a push to a namespace without policies
    # reads no pattern.
    "re2",
    # The jobs and clients of features a registry may not use, imported by their first job or by
    # the configuration that turns them on (jobs/runner.py, runtime.py).
    "wharf.integrations.ldap_directory",
    "wharf.services.directory_sync",
    "wharf.services.mirroring",
    "wharf.services.builds",
    "wharf.core.builds",
    "wharf.services.retention",
    "wharf.core.retention_policies",
)
# Loaded only by a server on PostgreSQL: a SQLite server never imports the PostgreSQL dialect
# (db/models.py states no postgresql_* option; core/_sql.dialect_insert imports it when used).
LAZY_ON_SQLITE = ("sqlalchemy.dialects.postgresql", "psycopg")
# Loaded by the first token (signed at the first login, verified by the first authenticated
# request): an idle server does not hold them (~11 MiB, auth/tokens.py).
UNTIL_THE_FIRST_TOKEN = ("cryptography", "cryptography.hazmat.bindings._rust", "jwt")

# Not imported by `import wharf.cli` (what `wharf --help` runs): each command imports the settings
# (pydantic), SQLAlchemy, asyncio, the logging and metrics set-up when it runs (cli/base.py).
NOT_FOR_HELP = (
    "wharf.config",
    "pydantic",
    "yaml",
    "sqlalchemy",
    "asyncio",
    "prometheus_client",
    "wharf.observe",
    "wharf.memory",
)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running code, and the source files it read."""
    dump = "import linecache, sys; print('\\n'.join([*sys.modules, *linecache.cache]))"
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{dump}"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split("\n"))


def test_the_command_line_imports_only_what_help_needs() -> None:
    loaded = _modules_after("import wharf.cli")
    assert "wharf.cli.admin" in loaded
    assert sorted(m for m in NOT_FOR_HELP if m in loaded) == []


def test_the_settings_are_built_without_reading_their_source() -> None:
    """Their docstrings are documentation (config.markdown_table reads them): pydantic's
    use_attribute_docstrings would read and parse config.py in every process."""
    loaded = _modules_after("import wharf.config")
    assert "wharf.config" in loaded
    assert [f for f in loaded if f.endswith("config.py")] == []


def test_a_command_on_an_up_to_date_database_does_not_load_alembic(tmp_path: Path) -> None:
    """Commands on an installation's database migrate it first (cli/base.existing_database), with
    Alembic only when it is behind."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    wharf = str(Path(sys.executable).parent / "wharf")
    subprocess.run([wharf, "migrate", "--data-dir", str(data)], env=env, check=True, capture_output=True)
    argv = ["wharf", "admin", "token", "nobody", "--data-dir", str(data)]
    # exits 1 ("no user named 'nobody'") once it has opened and checked the database
    run = f"import sys; sys.argv = {argv!r}\nfrom wharf.cli import main\ntry: main()\nexcept SystemExit: pass"
    loaded = _modules_after(run)
    assert "wharf.db.engine" in loaded
    assert sorted(m for m in ("alembic", "mako", "wharf.db.migrate") if m in loaded) == []


@pytest.fixture
def server(tmp_path: Path, db_uri: str | None) -> Iterator[WharfServer]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    srv = WharfServer(tmp_path / "data", "lazy-imports-pw", db_uri=db_uri)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    srv.start(extra_env={"PYTHONPATH": path, "WHARF_TEST_MODULES_OUT": str(tmp_path / "modules")})
    yield srv
    srv.stop()


def _loaded(server: WharfServer) -> set[str]:
    """The server process's sys.modules, now."""
    assert server.proc is not None
    out = server.data_dir.parent / "modules"
    out.unlink(missing_ok=True)
    os.kill(server.proc.pid, signal.SIGUSR1)

    def written() -> bool:
        # A request wakes the event loop, so the Python-level handler runs promptly.
        httpx.get(f"{server.url}/health", timeout=10)
        return out.exists()

    wait_until(written, "the module list")
    return set(out.read_text().split("\n"))


def _push_and_pull(server: WharfServer) -> None:
    token = server.token("repository:admin/lazy:pull,push")
    h = {"Authorization": f"Bearer {token}"}
    layer = b"lazy layer"
    config = b"{}"
    digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in (layer, config)]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digests[1],
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digests[0],
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    with httpx.Client(base_url=server.url, headers=h, timeout=30) as c:
        for body, digest in zip((layer, config), digests, strict=True):
            r = c.post("/v2/admin/lazy/blobs/uploads/", params={"digest": digest}, content=body)
            assert r.status_code == 201, r.text
        mt = "application/vnd.oci.image.manifest.v1+json"
        r = c.put("/v2/admin/lazy/manifests/v1", content=manifest, headers={"Content-Type": mt})
        assert r.status_code == 201, r.text
        assert c.get("/v2/admin/lazy/manifests/v1", headers={"Accept": mt}).status_code == 200
        assert c.get(f"/v2/admin/lazy/blobs/{digests[0]}").content == layer
        assert c.get("/v2/admin/lazy/tags/list").json()["tags"] == ["v1"]
        assert c.get("/v2/_catalog").status_code == 200
        assert c.get("/metrics").status_code == 200
        ready = c.get("/health/ready")  # the schema revision is read without Alembic
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text


def test_a_registry_only_server_never_loads_the_api_the_pages_or_optional_clients(
    server: WharfServer, db_uri: str | None
) -> None:
    idle = _loaded(server)
    assert "wharf.registry.app" in idle  # the hook sees the server's modules
    assert sorted(m for m in (*LAZY, *UNTIL_THE_FIRST_TOKEN) if m in idle) == []
    assert (server.data_dir / "keys" / "registry-signing.pem").is_file()  # made by the start-up child
    _push_and_pull(server)  # the first login and the first requests with its token
    loaded = _loaded(server)
    assert set(UNTIL_THE_FIRST_TOKEN) <= loaded
    assert sorted(m for m in LAZY if m in loaded) == []
    if db_uri is None:
        assert sorted(m for m in LAZY_ON_SQLITE if m in loaded) == []
    else:
        assert "sqlalchemy.dialects.postgresql" in loaded

    # The first requests to each surface, arriving together, build it once and are answered as
    # always.
    def api(_: int) -> httpx.Response:
        return httpx.get(f"{server.url}/api/v1/repository/admin/lazy", timeout=120)  # Quay's 401

    def page(_: int) -> httpx.Response:
        return httpx.get(f"{server.url}/signin", timeout=120)  # built on first use: slow when busy

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(api, range(8)))
        pages = list(pool.map(page, range(8)))
    assert [(r.status_code, r.json()["error_type"]) for r in answers] == [(401, "invalid_token")] * 8
    assert all(r.status_code == 200 and "text/html" in r.headers["content-type"] for r in pages)
    loaded = _loaded(server)
    assert {"fastapi", "wharf.api.app", "jinja2", "wharf.web.render"} <= loaded
