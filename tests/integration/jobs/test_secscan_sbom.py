"""SBOMs of indexed images (issue 16): served by the API in CycloneDX 1.6 and SPDX 2.3, and pushed
as OCI referrers into repositories that ask for them, listed by /v2's referrers API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from sqlalchemy import func, select

from tests.integration.jobs.test_secscan import BASE, HELM_CONFIG, HELM_LAYER, OPENSSL, drain, push_image
from tests.integration.registry_client import sha256
from tests.integration.world import World
from wharf.core import secscan as store
from wharf.core import secscan_settings
from wharf.db.engine import Db
from wharf.db.models import LogEntry
from wharf.oci import mediatypes as mt

CDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"


def sbom_url(repo: str, digest: str, fmt: str | None = None) -> str:
    query = f"?format={fmt}" if fmt else ""
    return f"/api/v1/repository/{repo}/manifest/{digest}/sbom{query}"


async def test_the_api_serves_both_formats_once_scanned(world: World) -> None:
    http, reader = world.reg.http, world.api["reader"]
    digest = sha256(await push_image(world.reg, "acme/app", "debian", [BASE, OPENSSL]))
    r = await http.get(sbom_url("acme/app", digest), headers=reader)
    assert r.status_code == 404
    assert r.json()["error_type"] == "not_found"
    assert "queued" in r.json()["detail"]

    await drain(world.reg.wharf.rt)
    r = await http.get(sbom_url("acme/app", digest), headers=reader)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CDX
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(r.text) is None
    bom = r.json()
    assert bom["metadata"]["component"]["name"] == "acme/app"
    assert bom["metadata"]["component"]["version"] == digest
    purls = {c["name"]: c.get("purl") for c in bom["components"]}
    assert purls["libssl3"] == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    )
    libssl = next(c for c in bom["components"] if c["name"] == "libssl3")
    assert {"name": "wharf:layer", "value": sha256(OPENSSL)} in libssl["properties"]

    r = await http.get(sbom_url("acme/app", digest, "spdx"), headers=reader)
    assert r.status_code == 200 and r.headers["content-type"] == SPDX
    doc = r.json()
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["documentNamespace"].startswith("http://")  # the registry's own address
    names = sorted(p["name"] for p in doc["packages"])
    assert names == ["acme/app", "base-files", "libblkid1", "libc6", "libssl3"]
    # The same index gives the same document.
    assert (await http.get(sbom_url("acme/app", digest, "spdx"), headers=reader)).content == r.content


async def test_errors_in_quays_format(world: World) -> None:
    http = world.reg.http
    digest = sha256(await push_image(world.reg, "acme/app", "debian", [BASE]))
    chart = sha256(
        await push_image(
            world.reg, "acme/app", "chart", [b"chart"], config_type=HELM_CONFIG, layer_type=HELM_LAYER
        )
    )
    await drain(world.reg.wharf.rt)
    r = await http.get(sbom_url("acme/app", digest, "swid"), headers=world.api["reader"])
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    r = await http.get(sbom_url("acme/app", "sha256:" + "0" * 64), headers=world.api["reader"])
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    r = await http.get(sbom_url("acme/app", "latest"), headers=world.api["reader"])
    assert r.status_code == 404
    r = await http.get(sbom_url("acme/app", chart), headers=world.api["reader"])
    assert r.status_code == 404 and "unsupported" in r.json()["detail"]
    # Reading the SBOM takes the read role, as the security report does: a private repository is
    # not found for those who may not read it.
    r = await http.get(sbom_url("acme/app", digest), headers=world.api["outsider"])
    assert r.status_code == 404
    r = await http.get(sbom_url("acme/app", digest))
    assert r.status_code == 401


async def referrers(world: World, repo: str, digest: str) -> list[dict[str, Any]]:
    r = await world.reg.http.get(
        f"/v2/{repo}/referrers/{digest}", headers=await world.reg.headers(repo, "pull")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["manifests"])


async def test_an_organization_that_asks_gets_a_referrer(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put(
        "/api/v1/organization/acme/securitysettings", json={"sbom_format": "cyclonedx"}, headers=owner
    )
    assert r.status_code == 200 and r.json()["sbom_format"] == "cyclonedx"
    digest = sha256(await push_image(world.reg, "acme/app", "debian", [BASE, OPENSSL]))
    await drain(world.reg.wharf.rt)

    (found,) = await referrers(world, "acme/app", digest)
    assert found["artifactType"] == CDX
    assert found["mediaType"] == mt.OCI_MANIFEST
    h = await world.reg.headers("acme/app", "pull")
    r = await http.get(f"/v2/acme/app/manifests/{found['digest']}", headers={**h, "Accept": mt.OCI_MANIFEST})
    artifact = r.json()
    assert artifact["subject"]["digest"] == digest
    assert artifact["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    (layer,) = artifact["layers"]
    blob = await http.get(f"/v2/acme/app/blobs/{layer['digest']}", headers=h)
    assert blob.status_code == 200
    assert sha256(blob.content) == layer["digest"]
    # The attached SBOM is the one the API serves.
    served = await http.get(sbom_url("acme/app", digest), headers=world.api["reader"])
    assert json.loads(blob.content) == served.json()

    # The same image pushed under another tag: the index is done, the referrer is there already.
    def pushes(c: Db) -> int:
        return int(c.execute(select(func.count()).where(LogEntry.kind == "push_repo")).scalar_one())

    before = await world.reg.wharf.rt.db.read(pushes)
    await push_image(world.reg, "acme/app", "again", [BASE, OPENSSL])
    await drain(world.reg.wharf.rt)
    assert len(await referrers(world, "acme/app", digest)) == 1
    assert await world.reg.wharf.rt.db.read(pushes) == before + 1  # the tag's push, no referrer's

    # Indexing again (a rescan) gives a document of the new index's time: at most one more.
    rt = world.reg.wharf.rt
    await rt.db.write(store.forget_index, digest)
    await rt.db.write(store.enqueue_index, digest)
    await drain(rt)
    again = await referrers(world, "acme/app", digest)
    assert len(again) in (1, 2)  # a re-index has a new time: at most one more, never a failure
    assert all(m["artifactType"] == CDX for m in again)


async def test_a_repository_setting_and_what_is_not_attached(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.put(
        "/api/v1/repository/acme/pub/securitysettings", json={"sbom_format": "spdx"}, headers=owner
    )
    assert r.status_code == 200, r.text
    assert (await http.get("/api/v1/repository/acme/pub/securitysettings", headers=owner)).json() == {
        "sbom_format": "spdx"
    }
    r = await http.put(
        "/api/v1/repository/acme/pub/securitysettings", json={"sbom_format": "xml"}, headers=owner
    )
    assert r.status_code == 400
    r = await http.put(
        "/api/v1/repository/acme/pub/securitysettings",
        json={"sbom_format": None},
        headers=world.api["reader"],
    )
    assert r.status_code == 403
    body = await push_image(world.reg, "acme/app", "debian", [BASE])
    await push_image(world.reg, "acme/pub", "debian", [BASE])
    digest = sha256(body)
    await drain(world.reg.wharf.rt)
    assert await referrers(world, "acme/app", digest) == []
    (found,) = await referrers(world, "acme/pub", digest)
    assert found["artifactType"] == SPDX
    assert await world.reg.wharf.rt.db.read(secscan_settings.sbom_targets, digest) != []
    # An artifact (not an image) gets none: it is never scanned.
    chart = sha256(
        await push_image(
            world.reg, "acme/pub", "chart", [b"c"], config_type=HELM_CONFIG, layer_type=HELM_LAYER
        )
    )
    await drain(world.reg.wharf.rt)
    assert await referrers(world, "acme/pub", chart) == []


@pytest.mark.parametrize("who", ["reader", "writer", "outsider"])
async def test_only_organization_admins_see_and_change_the_settings(world: World, who: str) -> None:
    http = world.reg.http
    r = await http.get("/api/v1/organization/acme/securitysettings", headers=world.api[who])
    assert r.status_code == 403
    r = await http.put(
        "/api/v1/organization/acme/securitysettings", json={"sbom_format": "spdx"}, headers=world.api[who]
    )
    assert r.status_code == 403


async def test_organization_settings_are_validated_and_logged(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    url = "/api/v1/organization/acme/securitysettings"
    assert (
        await http.put(url, json={"pull_policy": {"severity": "Severe"}}, headers=owner)
    ).status_code == 400
    assert (await http.put(url, json={"sbom_format": "xml"}, headers=owner)).status_code == 400
    r = await http.put(
        url,
        json={"pull_policy": {"severity": "High", "exempt_robots": True}, "sbom_format": "spdx"},
        headers=owner,
    )
    assert r.json() == {
        "pull_policy": {
            "severity": "High",
            "fixable_only": True,
            "exempt_robots": True,
            "exempt_superusers": True,
        },
        "registry_pull_policy": None,
        "effective_pull_policy": {
            "severity": "High",
            "fixable_only": True,
            "exempt_robots": True,
            "exempt_superusers": True,
        },
        "sbom_format": "spdx",
    }
    assert (await http.get(url, headers=owner)).json() == r.json()
    logs = (await http.get("/api/v1/organization/acme/logs", headers=owner)).json()["logs"]
    entry = next(e for e in logs if e["kind"] == "org_change_security_settings")
    assert entry["metadata"]["sbom_format"] == "spdx"
    assert (await http.get("/api/v1/organization/nosuch/securitysettings", headers=owner)).status_code == 404
