"""The OCI distribution-spec conformance suite, run against a real `wharf serve`.

The suite is the upstream test binary of opencontainers/distribution-spec (its `conformance/`
directory, the binary its README describes). None of its code lives in this repository, and
this repository does not build it: the binary is taken from WHARF_CONFORMANCE_BIN, and without
it the test skips. Nothing is looked up elsewhere, so a machine that happens to hold a binary
does not start failing on it unasked.

All four workflows run (pull, push, content discovery, content management), as the admin
user against the `admin/conformance` repository, with `admin/other` for cross-repository
mounts. A failing spec is listed with the gomega message and the last HTTP exchange the suite
logged before it (OCI_DEBUG=1 output, kept in the test's temp dir with the junit and HTML
reports).

WHARF_E2E_SERVER=distribution runs the same suite against CNCF distribution (Debian's
docker-registry) instead, to check this runner against a known registry: there the test
expects exactly the specs distribution 2.8 is known to fail.

The suite's client fetches a new token with the password for each of its ~126 authenticated
requests; only the first runs argon2, the rest are answered by the verified-credential cache
(auth/passwords.py), so a run costs what its registry requests cost. Distribution runs here
without auth. Details in docs/performance.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import ADMIN_PASSWORD, ADMIN_USER, SERVER_KIND, Server

pytestmark = pytest.mark.e2e

BIN_ENV = "WHARF_CONFORMANCE_BIN"
NAMESPACE = "admin/conformance"
CROSSMOUNT_NAMESPACE = "admin/other"
RUN_TIMEOUT = 900  # seconds; see the module docstring for how long a run takes and why
SUITE = "OCI Distribution Conformance Tests"
WORKFLOWS = ("Pull", "Push", "Content Discovery", "Content Management")

# Specs each server is expected to fail, by junit test case name (the suite prefix left off).
# Distribution 2.8.2 (Debian 12's docker-registry) has no referrers API and predates
# some of the spec's error-code and tag-list rules.
KNOWN_FAILURES: dict[str, frozenset[str]] = {
    "wharf": frozenset(),
    "distribution": frozenset(
        {
            "Pull Error codes 400 response body should contain OCI-conforming JSON message",
            "Push Blob Upload Chunked Out-of-order blob upload should return 416",
            "Push Blob Upload Chunked Retry previous blob chunk should return 416",
            "Push Blob Upload Chunked Get on stale blob upload should return 204 with a range and location",
            "Content Discovery Setup References setup",
            "Content Discovery Test content discovery endpoints (listing tags) "
            "GET number of tags should be limitable by `n` query parameter",
            "Content Discovery Test content discovery endpoints (listing tags) "
            "GET start of tag is set by `last` query parameter",
            "Content Discovery Test content discovery endpoints (listing references) "
            "GET request to nonexistent blob should result in empty 200 response",
            "Content Discovery Test content discovery endpoints (listing references) "
            "GET request to existing blob should yield 200",
            "Content Discovery Test content discovery endpoints (listing references) "
            "GET request to existing blob with filter should yield 200",
            "Content Discovery Test content discovery endpoints (listing references) "
            "GET request to missing manifest should yield 200",
            "Content Management Manifest delete "
            "DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)",
        }
    ),
}

# Specs v1.1.1 skips by design with the settings above (no OCI_TAG_NAME, OCI_AUTOMATIC_CROSSMOUNT
# unset): 74 of its 79 specs apply. Any other skip fails the run, so that "all applicable specs
# pass" cannot quietly become "fewer specs ran". Checked against Wharf only.
EXPECTED_SKIPS = frozenset(
    {
        "Pull Setup Get tag name from environment",
        "Push Cross-Repository Blob Mount GET request to test digest within cross-mount namespace "
        "should return 200",
        "Push Cross-Repository Blob Mount Cross-mounting without from, "
        "and automatic content discovery enabled should return a 201",
        "Push Cross-Repository Blob Mount Cross-mounting without from, "
        "and automatic content discovery disabled should return a 202",
        "Content Discovery Setup Populate registry with test tags (no push)",
    }
)

_OK_STATUSES = ("passed", "skipped", "pending")
_LOCATION = re.compile(r"In \[\w+\] at: (\S+):(\d+)")
_FAILURE_HEADER = re.compile(r"^• \[(?:FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\] .*\n(.+)\n", re.M)
_EXCHANGE = re.compile(
    r"~~~ REQUEST ~~~\n(?P<req>.*?)\n-{20,}\n~~~ RESPONSE ~~~\n(?P<resp>.*?)\n={20,}", re.S
)
_STATUS_401 = re.compile(r"^STATUS\s*: 401 ", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Spec:
    name: str  # junit test case name without the suite prefix
    status: str
    message: str = ""
    location: str = ""

    @property
    def failed(self) -> bool:
        return self.status not in _OK_STATUSES


def _short_name(name: str) -> str:
    return name.removeprefix(SUITE).strip()


def parse_junit(path: Path) -> list[Spec]:
    specs = []
    for case in ET.parse(path).getroot().iter("testcase"):
        status = case.get("status") or "passed"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        message = ""
        location = ""
        if problem is not None:
            status = status if status not in _OK_STATUSES else "failed"
            text = problem.text or problem.get("message") or ""
            where = _LOCATION.search(text)
            if where:
                location = f"{Path(where.group(1)).name}:{where.group(2)}"
            message = problem.get("message") or text
        specs.append(Spec(_short_name(case.get("name") or "?"), status, message.strip(), location))
    return specs


def _summarize_exchange(request: str, response: str, body_chars: int = 600) -> str:
    req_line = " ".join(request.splitlines()[0].split()) if request else "?"
    status = next(
        (ln.split(":", 1)[1].strip() for ln in response.splitlines() if ln.startswith("STATUS")), "?"
    )
    headers = []
    in_headers = False
    for line in response.splitlines():
        if line.startswith("HEADERS"):
            in_headers = True
            continue
        if in_headers:
            if not line.startswith("\t"):
                break
            name = line.strip().split(":", 1)[0].lower()
            if name in ("location", "range", "content-type", "docker-content-digest", "oci-subject", "link"):
                headers.append(line.strip())
    _, _, body = response.partition("BODY         :\n")
    if body.startswith("*** Error: Unable to format response body"):
        _, _, body = body.partition("Log Body as-is:")  # not JSON: logged raw after this line
    body = " ".join(body.split())
    if len(body) > body_chars:
        body = body[:body_chars] + " …"
    out = f"{req_line} -> {status}"
    if headers:
        out += "\n        " + "; ".join(headers)
    out += f"\n        body: {body or '(empty)'}"
    return out


def last_exchanges(stdout: str, count: int = 3) -> dict[str, list[str]]:
    """For each failed spec in the suite's output, the last HTTP exchanges it logged before its failure
    report (token requests, which carry Basic credentials, and answered 401 challenges left out)."""
    found: dict[str, list[str]] = {}
    start = 0
    for header in _FAILURE_HEADER.finditer(stdout):
        segment = stdout[start : header.start()]
        # the default reporter prints • as each spec passes: what follows the last one is this spec's
        segment = segment[segment.rfind("•") + 1 :]
        logged = [m for m in _EXCHANGE.finditer(segment) if "Authorization: Basic" not in m.group("req")]
        # a 401 that the client answered by fetching a token and retrying is not the exchange to show
        shown = [
            m for i, m in enumerate(logged) if i == len(logged) - 1 or not _STATUS_401.search(m.group("resp"))
        ]
        found[_short_name(header.group(1).replace("[It] ", ""))] = [
            _summarize_exchange(m.group("req"), m.group("resp")) for m in shown[-count:]
        ]
        start = header.end()
    return found


@pytest.fixture
def conformance_binary() -> Path:
    configured = os.environ.get(BIN_ENV)
    if not configured:
        pytest.skip(
            f"{BIN_ENV} is not set: point it at the OCI distribution-spec conformance test binary "
            "(opencontainers/distribution-spec conformance/, v1.1.x); this repository does not build it"
        )
    path = Path(configured)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{BIN_ENV}={configured} is not an executable file")
    return path


@pytest.fixture
def conformance_server(conformance_binary: Path, tmp_path: Path, db_uri: str | None) -> Iterator[Server]:
    if SERVER_KIND == "distribution" and shutil.which("docker-registry") is None:
        pytest.skip("WHARF_E2E_SERVER=distribution needs docker-registry (apt-get install docker-registry)")
    srv = Server(tmp_path / "server", db_uri=db_uri if SERVER_KIND == "wharf" else None)
    srv.workdir.mkdir(parents=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        print(f"--- {srv.kind} log ({srv.log_path}) ---\n{srv.log_tail()}")


def _suite_env(server: Server, report_dir: Path) -> dict[str, str]:
    # Inherited OCI_* settings (OCI_TAG_NAME, OCI_MANIFEST_DIGEST, ...) would change what runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_")}
    env.update(
        {
            "OCI_ROOT_URL": server.url,
            "OCI_NAMESPACE": NAMESPACE,
            "OCI_CROSSMOUNT_NAMESPACE": CROSSMOUNT_NAMESPACE,
            "OCI_TEST_PULL": "1",
            "OCI_TEST_PUSH": "1",
            "OCI_TEST_CONTENT_DISCOVERY": "1",
            "OCI_TEST_CONTENT_MANAGEMENT": "1",
            "OCI_HIDE_SKIPPED_WORKFLOWS": "0",
            "OCI_DEBUG": "1",
            "OCI_REPORT_DIR": str(report_dir),
        }
    )
    if server.has_auth:
        env["OCI_USERNAME"] = ADMIN_USER
        env["OCI_PASSWORD"] = ADMIN_PASSWORD
    return env


def test_oci_distribution_conformance(
    conformance_binary: Path, conformance_server: Server, tmp_path: Path
) -> None:
    binary = conformance_binary
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    output_path = tmp_path / "conformance.out"
    with output_path.open("wb") as output:
        try:
            proc = subprocess.run(
                [str(binary), "-ginkgo.no-color", f"-ginkgo.timeout={RUN_TIMEOUT}s"],
                cwd=tmp_path,
                env=_suite_env(conformance_server, report_dir),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=RUN_TIMEOUT + 60,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"conformance suite still running after {RUN_TIMEOUT + 60}s; output: {output_path}")
    stdout = _ANSI.sub("", output_path.read_text(errors="replace"))
    junit = report_dir / "junit.xml"
    if not junit.is_file():
        pytest.fail(
            f"conformance suite exited {proc.returncode} without a junit report; "
            f"output ({output_path}) ends:\n{stdout[-4000:]}"
        )

    specs = parse_junit(junit)
    ran = [s for s in specs if s.status not in ("skipped", "pending")]
    for workflow in WORKFLOWS:
        assert any(s.name.startswith(workflow + " ") for s in ran), (
            f"no {workflow} spec ran ({len(ran)} of {len(specs)} ran); output: {output_path}"
        )

    if conformance_server.kind == "wharf":
        skipped = sorted(
            s.name for s in specs if s.status in ("skipped", "pending") and s.name not in EXPECTED_SKIPS
        )
        assert not skipped, f"specs skipped that should run: {skipped}; output: {output_path}"

    failed = [s for s in specs if s.failed]
    expected = KNOWN_FAILURES[conformance_server.kind]
    unexpected = [s for s in failed if s.name not in expected]
    fixed = sorted(expected - {s.name for s in failed})
    if proc.returncode != 0 and not failed:
        pytest.fail(
            f"conformance suite exited {proc.returncode} with no failed spec; output ends:\n{stdout[-4000:]}"
        )
    if not unexpected and not fixed:
        return

    exchanges = last_exchanges(stdout)
    lines = [
        f"{len(unexpected)} of {len(ran)} conformance specs failed against {conformance_server.kind} "
        f"at {conformance_server.url} (binary {binary}):"
    ]
    for spec in unexpected:
        where = f" [{spec.location}]" if spec.location else ""
        lines.append(f"- {spec.name}{where} ({spec.status})")
        lines.extend("    " + ln for ln in spec.message.splitlines() if ln.strip())
        for exchange in exchanges.get(spec.name, []):
            lines.append(f"    last request: {exchange}")
    if fixed:
        lines.append(f"{len(fixed)} specs expected to fail on {conformance_server.kind} passed:")
        lines.extend(f"- {name}" for name in fixed)
    lines.append(f"full output: {output_path}; reports: {report_dir}")
    pytest.fail("\n".join(lines), pytrace=False)
