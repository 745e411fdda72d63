"""The pull policy on /v2 (issue 16): an organization's policy (or the registry's default) refuses
a manifest GET of an image with a vulnerability it counts, with an OCI DENIED error naming the
worst vulnerability and the policy; robots and superusers as the policy says; HEAD, unscanned
images and namespaces without a policy pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, TEST_HOSTNAME
from tests.integration.jobs import osv_samples
from tests.integration.jobs.test_secscan import BASE, OPENSSL, drain, push_image
from tests.integration.registry_client import sha256
from tests.integration.world import PW, World
from wharf.config import Settings, load_settings
from wharf.oci import mediatypes as mt
from wharf.services import secscan_update as updater

# Made up for these tests: a Critical glibc vulnerability with no fix yet, so that "fixable only"
# and "any" differ. The image also has DEBIAN-CVE-2024-2961 (High, fixed) and DEBIAN-CVE-2024-0727
# (Medium, fixed) from the real records.
UNFIXED: dict[str, Any] = {
    "id": "TEST-GLIBC-UNFIXED",
    "modified": "2024-10-01T00:00:00Z",
    "details": "A glibc flaw with no fixed version yet.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"name": "glibc", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        }
    ],
}
ACCEPT = {"Accept": mt.OCI_MANIFEST}


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None, storage_config: dict[str, object]
) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        **storage_config,
        **getattr(request, "param", {}),
    }
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def scanned(world: World, tmp_path: Path) -> str:
    """An image in acme/app and acme/pub (public), indexed and matched; its digest."""
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, "acme/app", "v1", [BASE, OPENSSL]))
    await push_image(world.reg, "acme/pub", "v1", [BASE, OPENSSL])
    await drain(rt)
    data = osv_samples.write_zip(tmp_path / "all.zip", [*osv_samples.RECORDS, UNFIXED])
    await asyncio.to_thread(updater.update, rt.db, data)
    # A robot of the organization that may read acme/app.
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/organization/acme/robots/puller", headers=owner)
    assert r.status_code in (200, 201), r.text
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+puller", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200, r.text
    return digest


async def set_policy(world: World, policy: dict[str, Any] | None, sbom: str | None = None) -> dict[str, Any]:
    r = await world.reg.http.put(
        "/api/v1/organization/acme/securitysettings",
        json={"pull_policy": policy, "sbom_format": sbom},
        headers=world.api["owner"],
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def robot_secret(world: World) -> str:
    r = await world.reg.http.get("/api/v1/organization/acme/robots/puller", headers=world.api["owner"])
    return str(r.json()["token"])


async def pull(
    world: World, who: str, reference: str = "v1", repo: str = "acme/app", head: bool = False
) -> httpx.Response:
    scope = f"repository:{repo}:pull"
    if who == "anonymous":
        token = await world.reg.token(scope, user=None)
    elif who == "robot":
        token = await world.reg.token(scope, user="acme+puller", password=await robot_secret(world))
    elif who == "superuser":
        token = await world.reg.token(scope, user="admin", password=ADMIN_PASSWORD)
    else:
        token = await world.reg.token(scope, user=who, password=PW)
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    method = "HEAD" if head else "GET"
    return await world.reg.http.request(method, f"/v2/{repo}/manifests/{reference}", headers=headers)


def refused_by(r: httpx.Response) -> str:
    assert r.status_code == 403, r.text
    (error,) = r.json()["errors"]
    assert error["code"] == "DENIED"
    return str(error["message"])


@pytest.mark.parametrize(
    ("severity", "fixable_only", "worst"),
    [
        ("Critical", True, None),
        ("Critical", False, "TEST-GLIBC-UNFIXED (Critical) in libc6 2.36-9+deb12u4, no fix yet"),
        ("High", True, "DEBIAN-CVE-2024-2961 (High) in libc6 2.36-9+deb12u4, fixed in 2.36-9+deb12u7"),
        ("High", False, "TEST-GLIBC-UNFIXED (Critical)"),
        ("Medium", True, "DEBIAN-CVE-2024-2961 (High)"),
        (None, False, None),
    ],
)
async def test_severity_and_fixable(
    world: World, scanned: str, severity: str | None, fixable_only: bool, worst: str | None
) -> None:
    await set_policy(world, {"severity": severity, "fixable_only": fixable_only})
    for reference in ("v1", scanned):
        r = await pull(world, "reader", reference)
        if worst is None:
            assert r.status_code == 200, r.text
            continue
        message = refused_by(r)
        assert worst in message
        assert f"the namespace acme (refuse {'fixable ' if fixable_only else ''}vulnerabilities" in message
        assert f"of severity {severity} or higher" in message


@pytest.mark.parametrize(
    ("exempt_robots", "exempt_superusers", "passes"),
    [
        (False, False, set()),
        (True, False, {"robot"}),
        (False, True, {"superuser"}),
        (True, True, {"robot", "superuser"}),
    ],
)
async def test_identities(
    world: World, scanned: str, exempt_robots: bool, exempt_superusers: bool, passes: set[str]
) -> None:
    await set_policy(
        world,
        {
            "severity": "High",
            "fixable_only": True,
            "exempt_robots": exempt_robots,
            "exempt_superusers": exempt_superusers,
        },
    )
    for who in ("reader", "owner", "robot", "superuser"):
        r = await pull(world, who)
        if who in passes:
            assert r.status_code == 200, (who, r.text)
        else:
            assert "DEBIAN-CVE-2024-2961" in refused_by(r), who
    # Anonymous pulls of the public repository meet the policy too.
    assert "DEBIAN-CVE-2024-2961" in refused_by(await pull(world, "anonymous", repo="acme/pub"))


async def test_head_passes_and_unscanned_images_pass(world: World, scanned: str) -> None:
    await set_policy(world, {"severity": "Low", "fixable_only": False})
    head = await pull(world, "reader", head=True)
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == scanned
    refused_by(await pull(world, "reader"))
    # Pushed, not indexed yet (the queue has not run): it passes, as docs/security-scanning.md says.
    fresh = sha256(await push_image(world.reg, "acme/app", "fresh", [BASE, OPENSSL, BASE]))
    r = await pull(world, "reader", fresh)
    assert r.status_code == 200, r.text


async def test_a_tag_of_an_index_is_refused_through_its_child(world: World, scanned: str) -> None:
    import json

    body = await world.reg.http.get(
        f"/v2/acme/app/manifests/{scanned}", headers={**ACCEPT, **await world.reg.headers("acme/app")}
    )
    child = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": scanned,
        "size": len(body.content),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child]}).encode()
    assert (await world.reg.push_manifest("acme/app", "multi", index, mt.OCI_INDEX)).status_code == 201
    await set_policy(world, {"severity": "High"})
    # The index itself is not an image: it passes, and its child is refused when pulled...
    r = await pull(world, "reader", "multi")  # Accept names only image manifests: the child is given
    assert "DEBIAN-CVE-2024-2961" in refused_by(r)


async def test_without_a_policy_nothing_is_refused(world: World, scanned: str) -> None:
    answer = await set_policy(world, None)
    assert answer["effective_pull_policy"] is None
    for who in ("reader", "robot", "superuser"):
        assert (await pull(world, who)).status_code == 200


@pytest.mark.parametrize("settings", [{"SECURITY_SCANNER_PULL_POLICY_SEVERITY": "High"}], indirect=True)
async def test_the_registry_default_and_an_organization_setting_it_aside(world: World, scanned: str) -> None:
    r = await world.reg.http.get("/api/v1/organization/acme/securitysettings", headers=world.api["owner"])
    assert r.json()["pull_policy"] is None
    assert r.json()["effective_pull_policy"]["severity"] == "High"
    message = refused_by(await pull(world, "reader"))
    assert "this registry" in message and "DEBIAN-CVE-2024-2961" in message
    assert (await pull(world, "superuser")).status_code == 200  # exempt by default
    # The organization's explicit "no policy" sets the default aside.
    answer = await set_policy(world, {"severity": None})
    assert answer["effective_pull_policy"] is None and answer["pull_policy"]["severity"] is None
    assert (await pull(world, "reader")).status_code == 200
    # Its own policy replaces the default.
    await set_policy(world, {"severity": "Critical", "fixable_only": False})
    assert "TEST-GLIBC-UNFIXED" in refused_by(await pull(world, "reader"))


@pytest.mark.parametrize("settings", [{"FEATURE_SECURITY_SCANNER": False}], indirect=True)
async def test_with_the_scanner_off_no_policy_applies(world: World) -> None:
    await set_policy(world, {"severity": "Unknown", "fixable_only": False})
    digest = sha256(await push_image(world.reg, "acme/app", "v1", [BASE, OPENSSL]))
    assert (await pull(world, "reader", digest)).status_code == 200


# What the image holds, worst first: (OSV id, severity, has a fix).
IN_IMAGE = (
    ("TEST-GLIBC-UNFIXED", "Critical", False),
    ("DEBIAN-CVE-2024-2961", "High", True),
    ("DEBIAN-CVE-2024-0727", "Medium", True),
)
LEVELS = ("Unknown", "Negligible", "Low", "Medium", "High", "Critical")


def expected(severity: str | None, fixable_only: bool, spared: bool) -> str | None:
    """The vulnerability a pull is refused for, by the policy's definition; None: it passes."""
    if severity is None or spared:
        return None
    floor = LEVELS.index(severity)
    return next(
        (
            osv
            for osv, level, fixed in IN_IMAGE
            if LEVELS.index(level) >= floor and (fixed or not fixable_only)
        ),
        None,
    )


async def test_the_whole_table(world: World, scanned: str) -> None:
    """identity (user, robot, superuser, anonymous) x severity x fixable x exemptions."""
    tokens = {
        "reader": await world.reg.token("repository:acme/app:pull", user="reader", password=PW),
        "robot": await world.reg.token(
            "repository:acme/app:pull", user="acme+puller", password=await robot_secret(world)
        ),
        "superuser": await world.reg.token("repository:acme/app:pull", user="admin", password=ADMIN_PASSWORD),
        "anonymous": await world.reg.token("repository:acme/pub:pull", user=None),
    }
    checked = 0
    for severity in (*LEVELS, None):
        for fixable_only in (True, False):
            for exempt_robots, exempt_superusers in ((False, False), (True, True)):
                await set_policy(
                    world,
                    {
                        "severity": severity,
                        "fixable_only": fixable_only,
                        "exempt_robots": exempt_robots,
                        "exempt_superusers": exempt_superusers,
                    },
                )
                for who, token in tokens.items():
                    repo = "acme/pub" if who == "anonymous" else "acme/app"
                    r = await world.reg.http.get(
                        f"/v2/{repo}/manifests/{scanned}",
                        headers={**ACCEPT, "Authorization": f"Bearer {token}"},
                    )
                    spared = (who == "robot" and exempt_robots) or (who == "superuser" and exempt_superusers)
                    want = expected(severity, fixable_only, spared)
                    case = (who, severity, fixable_only, exempt_robots, exempt_superusers)
                    if want is None:
                        assert r.status_code == 200, (case, r.text)
                    else:
                        assert f": {want} (" in refused_by(r), (case, r.text)
                    checked += 1
    assert checked == 7 * 2 * 2 * 4
