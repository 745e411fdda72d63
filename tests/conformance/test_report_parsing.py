"""The conformance runner's reading of the suite's junit report and debug output, on small samples
written here, so that it is checked on machines without the conformance binary too."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.test_conformance import last_exchanges, parse_junit

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1">
  <testsuite name="conformance tests" tests="3" failures="1" skipped="1">
    <testcase name="OCI Distribution Conformance Tests Pull Setup Populate registry with test blob"
              classname="conformance tests" status="passed" time="0.1"></testcase>
    <testcase name="OCI Distribution Conformance Tests Pull Pull manifests GET missing manifest gives 404"
              classname="conformance tests" status="failed" time="0.2">
      <failure message="Expected&#xA;    &lt;int&gt;: 400&#xA;to equal&#xA;    &lt;int&gt;: 404"
               type="failed">[FAILED] Expected
    &lt;int&gt;: 400
to equal
    &lt;int&gt;: 404
In [It] at: /build/conformance/01_pull_test.go:204 @ 11/22/26 13:37:16.866
</failure>
    </testcase>
    <testcase name="OCI Distribution Conformance Tests Push Setup Get tag name from environment"
              classname="conformance tests" status="skipped" time="0">
      <skipped message="skipped - you have skipped this test."></skipped>
    </testcase>
  </testsuite>
</testsuites>
"""

RULE = "=" * 78
DASHES = "-" * 78


def _exchange(request: str, status: str, headers: list[str], body: str) -> str:
    return (
        f"DEBUG \n{RULE}\n~~~ REQUEST ~~~\n{request}\nHOST   : 127.0.0.1:5000\nHEADERS:\n"
        f"\tUser-Agent: distribution-spec-conformance-tests\nBODY   :\n***** NO CONTENT *****\n"
        f"{DASHES}\n~~~ RESPONSE ~~~\nSTATUS       : {status}\nPROTO        : HTTP/1.1\n"
        f"HEADERS      :\n" + "".join(f"\t{h}\n" for h in headers) + f"BODY         :\n{body}\n{RULE}\n\n"
    )


def test_parse_junit_reads_status_message_and_location(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    specs = parse_junit(path)
    assert [(s.name, s.status, s.failed) for s in specs] == [
        ("Pull Setup Populate registry with test blob", "passed", False),
        ("Pull Pull manifests GET missing manifest gives 404", "failed", True),
        ("Push Setup Get tag name from environment", "skipped", False),
    ]
    assert specs[1].location == "01_pull_test.go:204"
    assert "<int>: 400" in specs[1].message


def test_last_exchanges_keeps_the_failed_specs_own_requests() -> None:
    earlier = _exchange("GET  /v2/a/b/blobs/sha256:aa  HTTP/1.1", "200 OK", ["Content-Length: 3"], "abc")
    challenge = _exchange(
        "GET  /v2/a/b/manifests/.bad  HTTP/1.1",
        "401 Unauthorized",
        ['Www-Authenticate: Bearer realm="http://x/auth"'],
        "{}",
    )
    token = _exchange(
        "GET  /auth?scope=repository%3Aa%2Fb%3Apull  HTTP/1.1\nAuthorization: Basic *****",
        "200 OK",
        [],
        "{}",
    ).replace("\tUser-Agent", "\tAuthorization: Basic *****\n\tUser-Agent")
    failing = _exchange(
        "GET  /v2/a/b/manifests/.bad  HTTP/1.1",
        "400 Bad Request",
        ["Content-Type: application/json"],
        '{\n   "errors": [ { "code": "TAG_INVALID" } ]\n}',
    )
    stdout = (
        "Will run 3 of 3 specs\n"
        + earlier
        + "•"
        + challenge
        + token
        + failing
        + "\n------------------------------\n• [FAILED] [0.198 seconds]\n"
        "OCI Distribution Conformance Tests Pull Pull manifests [It] GET missing manifest gives 404\n"
        "/build/conformance/01_pull_test.go:198\n\n  [FAILED] Expected\n"
    )
    found = last_exchanges(stdout)
    assert list(found) == ["Pull Pull manifests GET missing manifest gives 404"]
    [shown] = found["Pull Pull manifests GET missing manifest gives 404"]
    assert shown.startswith("GET /v2/a/b/manifests/.bad HTTP/1.1 -> 400 Bad Request")
    assert "Content-Type: application/json" in shown
    assert 'body: { "errors": [ { "code": "TAG_INVALID" } ] }' in shown
