"""Quay's quota API and what a quota does to pushes: superusers set quotas and limits, members
read them, a push over a Reject limit is refused in the OCI format while pulls still work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.integration.world import PW, World, api_token
from wharf.config import Settings, load_settings


@pytest.fixture
def settings(request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None) -> Settings:
    overrides: dict[str, Any] = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "FEATURE_QUOTA_MANAGEMENT": True,
        "GLOBAL_READONLY_SUPER_USERS": ["auditor"],
        **getattr(request, "param", {}),
    }
    return load_settings(None, overrides, environ={})


async def test_superusers_set_quotas_and_members_read_them(world: World) -> None:
    http, api = world.reg.http, world.api
    path = "/api/v1/organization/acme/quota"
    assert (await http.post(path, json={"limit_bytes": 10_000}, headers=api["owner"])).status_code == 403
    r = await http.post(path, json={"limit": "10 KiB"}, headers=api["admin"])
    assert (r.status_code, r.json()) == (201, "Created")
    assert (await http.post(path, json={"limit_bytes": 5}, headers=api["admin"])).status_code == 400
    r = await http.get(path, headers=api["reader"])
    [quota] = r.json()
    assert quota == {
        "id": quota["id"],
        "limit_bytes": 10240,
        "limit": "10.0 KiB",
        "default_config": False,
        "limits": [],
        "default_config_exists": False,
    }
    assert (await http.get(path, headers=api["outsider"])).status_code == 403
    limits = f"{path}/{quota['id']}/limit"
    r = await http.post(limits, json={"type": "Reject", "threshold_percent": 80}, headers=api["admin"])
    assert r.status_code == 201
    r = await http.post(limits, json={"type": "Reject", "threshold_percent": 90}, headers=api["admin"])
    assert r.status_code == 400  # one Reject limit per quota
    r = await http.post(limits, json={"type": "Sometimes", "threshold_percent": 90}, headers=api["admin"])
    assert r.status_code == 400
    [limit] = (await http.get(limits, headers=api["reader"])).json()
    assert limit == {"id": limit["id"], "type": "Reject", "limit_percent": 80}
    r = await http.put(f"{limits}/{limit['id']}", json={"threshold_percent": 100}, headers=api["admin"])
    assert r.json()["limits"] == [{"id": limit["id"], "type": "Reject", "limit_percent": 100}]
    r = await http.put(f"{path}/{quota['id']}", json={"limit_bytes": 20_000}, headers=api["admin"])
    assert r.json()["limit_bytes"] == 20_000
    r = await http.get("/api/v1/organization/acme", headers=api["reader"])
    assert r.json()["quota_report"]["configured_quota"] == 20_000
    assert [q["limit_bytes"] for q in r.json()["quotas"]] == [20_000]
    assert (await http.delete(f"{limits}/{limit['id']}", headers=api["owner"])).status_code == 403
    assert (await http.delete(f"{limits}/{limit['id']}", headers=api["admin"])).status_code == 204
    assert (await http.delete(f"{path}/{quota['id']}", headers=api["admin"])).status_code == 204
    assert (await http.get(path, headers=api["reader"])).json() == []


async def test_a_push_over_the_reject_limit_is_refused_and_pulls_still_work(world: World) -> None:
    http, api, reg = world.reg.http, world.api, world.reg
    digest, _ = await reg.push_image("acme/app", "v1")
    size = (await http.get("/api/v1/repository/acme/app", headers=api["admin"])).json()["quota_report"]
    assert size["quota_bytes"] > 2048
    r = await http.post(
        "/api/v1/superuser/organization/acme/quota", json={"limit_bytes": 1000}, headers=api["admin"]
    )
    assert r.status_code == 201
    [quota] = (await http.get("/api/v1/organization/acme/quota", headers=api["admin"])).json()
    r = await http.post(
        f"/api/v1/organization/acme/quota/{quota['id']}/limit",
        json={"type": "Reject", "threshold_percent": 100},
        headers=api["admin"],
    )
    assert r.status_code == 201
    with pytest.raises(AssertionError):
        await reg.push_image("acme/app", "v2")
    r = await reg.push_manifest(
        "acme/app",
        "v3",
        _image_of(
            await reg.http.get(f"/v2/acme/app/manifests/{digest}", headers=await reg.headers("acme/app"))
        ),
    )
    assert r.status_code == 201  # adds no bytes: accepted
    pulled = await http.get(f"/v2/acme/app/manifests/{digest}", headers=await reg.headers("acme/app"))
    assert pulled.status_code == 200
    r = await http.get("/api/v1/repository?namespace=acme", headers=api["admin"])
    reports = {repo["name"]: repo["quota_report"] for repo in r.json()["repositories"]}
    assert reports["app"]["configured_quota"] == 1000
    assert reports["app"]["quota_bytes"] == size["quota_bytes"]


def _image_of(response: Any) -> bytes:
    assert response.status_code == 200
    return bytes(response.content)


async def test_the_refusal_speaks_oci(world: World) -> None:
    http, api, reg = world.reg.http, world.api, world.reg
    await reg.push_image("acme/app", "v1")
    await http.post(
        "/api/v1/superuser/organization/acme/quota", json={"limit_bytes": 100}, headers=api["admin"]
    )
    [quota] = (await http.get("/api/v1/organization/acme/quota", headers=api["admin"])).json()
    await http.post(
        f"/api/v1/organization/acme/quota/{quota['id']}/limit",
        json={"type": "Reject", "threshold_percent": 100},
        headers=api["admin"],
    )
    config = b'{"architecture":"amd64","os":"linux","n":1}'
    layer = b"new bytes" * 10
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": await reg.push_blob("acme/app", config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": await reg.push_blob("acme/app", layer),
                "size": len(layer),
            }
        ],
    }
    r = await reg.push_manifest("acme/app", "v2", manifest)
    assert r.status_code == 403
    [error] = r.json()["errors"]
    assert error["code"] == "DENIED"
    assert error["message"].startswith("quota exceeded for namespace acme: ")
    assert error["message"].endswith(" of 100 B; delete tags or ask an administrator")


async def test_users_read_their_own_quota(world: World, settings: Settings) -> None:
    assert settings.FEATURE_QUOTA_MANAGEMENT
    r = await world.reg.http.get("/api/v1/user/quota", headers=world.api["owner"])
    assert (r.status_code, r.json()) == (200, [])
    shown = (await world.reg.http.get("/config")).json()
    assert shown["features"]["QUOTA_MANAGEMENT"] and shown["config"]["FEATURE_QUOTA_MANAGEMENT"]


# Who may do what (Quay's rules): superusers set quotas, members and superusers read an
# organization's, read-only superusers read and change nothing, a user reads their own.
ACCESS = {
    # list org quota, create it, change it, delete a limit, superuser list, superuser create
    "admin": (200, 201, 200, 204, 200, 201),
    "auditor": (200, 403, 403, 403, 200, 403),
    "owner": (200, 403, 403, 403, 403, 403),
    "reader": (200, 403, 403, 403, 403, 403),
    "outsider": (403, 403, 403, 403, 403, 403),
    "anonymous": (401, 401, 401, 401, 401, 401),
}


@pytest.mark.parametrize("who", list(ACCESS))
async def test_who_may_do_what(world: World, who: str) -> None:
    http, api = world.reg.http, world.api
    if who == "auditor":
        await world.reg.create_user("auditor", PW)
        api["auditor"] = await api_token(world.reg, "auditor")
    await http.post("/api/v1/organization/acme/quota", json={"limit_bytes": 1000}, headers=api["admin"])
    [quota] = (await http.get("/api/v1/organization/acme/quota", headers=api["admin"])).json()
    base = f"/api/v1/organization/acme/quota/{quota['id']}"
    await http.post(f"{base}/limit", json={"type": "Warning", "threshold_percent": 50}, headers=api["admin"])
    [limit] = (await http.get(f"{base}/limit", headers=api["admin"])).json()
    await http.post("/api/v1/organization/", json={"name": "spare"}, headers=api["owner"])
    headers = api.get(who, {})
    statuses = (
        (await http.get("/api/v1/organization/acme/quota", headers=headers)).status_code,
        (
            await http.post("/api/v1/organization/spare/quota", json={"limit_bytes": 5}, headers=headers)
        ).status_code,
        (await http.put(base, json={"limit_bytes": 2000}, headers=headers)).status_code,
        (await http.delete(f"{base}/limit/{limit['id']}", headers=headers)).status_code,
        (await http.get("/api/v1/superuser/users/owner/quota", headers=headers)).status_code,
        (
            await http.post("/api/v1/superuser/users/owner/quota", json={"limit_bytes": 5}, headers=headers)
        ).status_code,
    )
    assert statuses == ACCESS[who]


@pytest.mark.parametrize("settings", [{"FEATURE_QUOTA_MANAGEMENT": False}], indirect=True)
async def test_the_api_is_off_without_the_feature(world: World) -> None:
    r = await world.reg.http.get("/api/v1/organization/acme/quota", headers=world.api["admin"])
    assert r.status_code == 404


async def test_parallel_pushes_near_the_reject_limit(world: World) -> None:
    """Twelve pushes of 2 KiB each at once against a 10 KiB Reject limit: the namespace ends at
    most one manifest's new bytes over it, and every push past that is refused with DENIED."""
    http, api, reg = world.reg.http, world.api, world.reg
    await http.post(
        "/api/v1/superuser/organization/acme/quota", json={"limit_bytes": 10_240}, headers=api["admin"]
    )
    [quota] = (await http.get("/api/v1/organization/acme/quota", headers=api["admin"])).json()
    await http.post(
        f"/api/v1/organization/acme/quota/{quota['id']}/limit",
        json={"type": "Reject", "threshold_percent": 100},
        headers=api["admin"],
    )
    manifests = []
    for i in range(12):
        config, layer = f'{{"n":{i:02d}}}'.encode(), bytes([i]) * 2048
        manifests.append(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": await reg.push_blob("acme/app", config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": await reg.push_blob("acme/app", layer),
                        "size": len(layer),
                    }
                ],
            }
        )
    answers = await asyncio.gather(
        *(reg.push_manifest("acme/app", f"p{i}", m) for i, m in enumerate(manifests))
    )
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {201, 403}
    assert all(r.json()["errors"][0]["code"] == "DENIED" for r in answers if r.status_code == 403)
    r = await http.get("/api/v1/organization/acme", headers=api["admin"])
    used = r.json()["quota_report"]["quota_bytes"]
    assert 10_240 < used <= 10_240 + 2048 + len('{"n":00}')
    assert statuses.count(201) == 5  # four images of 2,056 B leave it under the limit, the fifth crosses


async def test_a_users_quota_and_limits(world: World) -> None:
    """Superusers set a user's quota on the superuser path and its limits on the organization path
    (Quay has no other); the user reads them on /user/quota, others may not."""
    http, api = world.reg.http, world.api
    r = await http.post(
        "/api/v1/superuser/users/reader/quota", json={"limit_bytes": 4096}, headers=api["admin"]
    )
    assert r.status_code == 201
    [quota] = (await http.get("/api/v1/user/quota", headers=api["reader"])).json()
    r = await http.post(
        f"/api/v1/organization/reader/quota/{quota['id']}/limit",
        json={"type": "Warning", "threshold_percent": 70},
        headers=api["admin"],
    )
    assert r.status_code == 201
    [limit] = (await http.get(f"/api/v1/user/quota/{quota['id']}/limit", headers=api["reader"])).json()
    assert limit["type"] == "Warning"
    r = await http.get(f"/api/v1/user/quota/{quota['id']}/limit/{limit['id']}", headers=api["reader"])
    assert r.json() == limit
    assert (await http.get("/api/v1/organization/reader/quota", headers=api["outsider"])).status_code == 403
    assert (await http.get("/api/v1/user/quota", headers=api["outsider"])).json() == []
    r = await http.put(
        f"/api/v1/superuser/users/reader/quota/{quota['id']}", json={"limit": "8 KiB"}, headers=api["admin"]
    )
    assert r.json()["limit_bytes"] == 8192
    r = await http.delete(f"/api/v1/superuser/users/reader/quota/{quota['id']}", headers=api["admin"])
    assert r.status_code == 204
    assert (await http.get(f"/api/v1/user/quota/{quota['id']}", headers=api["reader"])).status_code == 404
