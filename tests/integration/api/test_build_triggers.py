"""Build triggers through /api/v1 and the push webhook, as Quay's clients and git servers use them:
create and activate (deploy key and webhook URL shown), pushes from a custom git server, GitHub,
GitLab and Bitbucket with right and forged proofs, skip marks, the ref filter, tag templates,
enable/disable, manual start, the trigger's builds, delete; the log entries and the build
notification carrying the trigger. The builds run nowhere here (tests/e2e/test_builds.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from tests.integration.registry_client import sha256
from tests.integration.world import World
from wharf.core import accounts, audit_kinds, builds, notifications, repositories
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import Job
from wharf.oci import mediatypes as mt
from wharf.oci.names import RepositoryName
from wharf.services import build_triggers as trigger_service
from wharf.services import builds as build_service

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "acme/app"
TRIGGERS = f"/api/v1/repository/{REPO}/trigger/"


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3A3QP8fpcMhN18yqYybDObBw/ErBrilrFeJ36dtERo"


async def _activated(world: World, **config: Any) -> tuple[str, str, dict[str, Any]]:
    """(trigger uuid, webhook token, trigger view) of a new custom-git trigger of acme/app."""
    http, owner = world.reg.http, world.api["owner"]
    r = await http.post(TRIGGERS, json={"service": "custom-git"}, headers=owner)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["is_active"] is False and created["service"] == "custom-git"
    body = {
        "config": {
            "build_source": "git@git.example.com:team/app.git",
            "dockerfile_path": "/sub/Dockerfile",
            **config,
        }
    }
    r = await http.post(f"{TRIGGERS}{created['id']}/activate", json=body, headers=owner)
    assert r.status_code == 200, r.text
    view = r.json()
    creds = {c["name"]: c["value"] for c in view["config"]["credentials"]}
    assert creds["SSH Public Key"].startswith("ssh-ed25519 ")
    url = urlsplit(creds["Webhook Endpoint URL"])
    assert url.username == "$token" and url.path == f"/webhooks/push/trigger/{created['id']}"
    assert url.password is not None
    return created["id"], url.password, view


def _deliveries(db: Db) -> list[dict[str, Any]]:
    rows = db.execute(select(Job.body).where(Job.queue == notifications.QUEUE).order_by(Job.id))
    return [json.loads(body) for body in rows.scalars()]


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"$token:{token}".encode()).decode()}


def _custom(ref: str = "refs/heads/main", message: str = "change") -> dict[str, Any]:
    return {
        "commit": SHA,
        "ref": ref,
        "default_branch": "main",
        "commit_info": {
            "url": "https://git.example.com/c",
            "message": message,
            "date": "2026-12-07",
            "author": {"username": "ann"},
        },
    }


async def _push(http: httpx.AsyncClient, uuid: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(
        f"/webhooks/push/trigger/{uuid}",
        content=data,
        headers={"Content-Type": "application/json", **headers},
    )


async def test_custom_git_trigger_from_setup_to_build(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    rt = world.reg.wharf.rt
    namespace = await rt.db.read(accounts.get_by_name, "acme")
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert namespace is not None and repo is not None
    await rt.db.write(
        notifications.set_up,
        SecretBox("x"),
        namespace,
        repo,
        "build_queued",
        "webhook",
        {"url": "http://x"},
        {},
        None,
        None,
    )
    uuid, token, view = await _activated(world, tag_templates=["${commit_info.short_sha}"])
    assert view["config"]["dockerfile_path"] == "sub/Dockerfile" and view["config"]["context"] == "sub"
    listed = (await http.get(TRIGGERS, headers=owner)).json()["triggers"]
    assert [t["id"] for t in listed] == [uuid] and listed[0]["is_active"] is True
    # Only admins see triggers: their configuration holds the webhook token.
    assert (await http.get(TRIGGERS, headers=world.api["writer"])).status_code == 403

    # Forged: no token, a wrong one.
    assert (await _push(http, uuid, _custom(), {})).status_code == 403
    assert (await _push(http, uuid, _custom(), _basic("wrong"))).status_code == 403
    r = await _push(http, uuid, _custom(), _basic(token))
    assert r.status_code == 200, r.text
    found = await rt.db.read(builds.list_for, repo.id, 10, None)
    assert len(found) == 1
    build = found[0]
    assert build.trigger_uuid == uuid and build.trigger_service == "custom-git"
    assert build.docker_tags == ["main", "latest", SHA[:7]] and build.display_name == SHA[:7]
    assert build.dockerfile_path == "sub/Dockerfile" and build.context == "sub"
    assert build.trigger_metadata is not None
    assert build.trigger_metadata["git_url"] == "git@git.example.com:team/app.git"
    assert build.trigger_metadata["commit_info"]["author"] == {"username": "ann"}

    r = await http.get(f"/api/v1/repository/{REPO}/build/{build.uuid}", headers=owner)
    assert r.json()["trigger"]["id"] == uuid and r.json()["trigger_metadata"]["commit"] == SHA
    assert r.json()["manual_user"] is None
    r = await http.get(f"{TRIGGERS}{uuid}/builds", headers=owner)
    assert [b["id"] for b in r.json()["builds"]] == [build.uuid]

    # The build_queued notification carries the trigger.
    queued = [b["event_data"] for b in await rt.db.read(_deliveries) if b["event"] == "build_queued"]
    assert queued and queued[-1]["trigger_id"] == uuid and queued[-1]["trigger_kind"] == "custom-git"
    assert queued[-1]["is_manual"] is False and queued[-1]["trigger_metadata"]["commit"] == SHA

    # Skipped, filtered: 200 and no build.
    assert (await _push(http, uuid, _custom(message="docs [skip build]"), _basic(token))).status_code == 200
    assert (await _push(http, uuid, b"not json", _basic(token))).status_code == 400
    assert len(await rt.db.read(builds.list_for, repo.id, 10, None)) == 1

    # Disabled: refused; enabled again: builds.
    r = await http.put(f"{TRIGGERS}{uuid}", json={"enabled": False}, headers=owner)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await _push(http, uuid, _custom(), _basic(token))).status_code == 400
    assert (
        await http.post(f"{TRIGGERS}{uuid}/start", json={"commit_sha": SHA}, headers=owner)
    ).status_code == 400
    await http.put(f"{TRIGGERS}{uuid}", json={"enabled": True}, headers=owner)

    r = await http.post(
        f"{TRIGGERS}{uuid}/start", json={"commit_sha": SHA, "branch_name": "dev"}, headers=owner
    )
    assert r.status_code == 201, r.text
    assert r.json()["trigger_metadata"]["ref"] == "refs/heads/dev" and r.json()["manual_user"] == "owner"
    assert r.json()["tags"] == ["dev", SHA[:7]]

    assert (await http.post(f"{TRIGGERS}{uuid}/analyze", json={"config": {}}, headers=owner)).json()[
        "status"
    ] == "error"
    assert (await http.get(f"{TRIGGERS}{uuid}/namespaces", headers=owner)).json() == {"namespaces": []}

    r = await http.delete(f"{TRIGGERS}{uuid}", headers=owner)
    assert r.status_code == 204
    assert (await _push(http, uuid, _custom(), _basic(token))).status_code == 404
    r = await http.get(f"/api/v1/repository/{REPO}/logs", headers=owner)
    kinds = {entry["kind"] for entry in r.json()["logs"]}
    assert {
        "setup_repo_trigger",
        "toggle_repo_trigger",
        "start_build_trigger",
        "delete_repo_trigger",
    } <= kinds


def _sign(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def test_github_gitlab_bitbucket_pushes_with_their_proofs(world: World) -> None:
    http = world.reg.http
    rt = world.reg.wharf.rt
    uuid, token, _ = await _activated(world, branchtag_regex="heads/main", default_branch="main")
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None

    github = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": SHA,
            "repository": {"default_branch": "main"},
            "head_commit": {"id": SHA, "message": "gh", "author": {"username": "ann"}},
        }
    ).encode()
    gh = {"X-GitHub-Event": "push"}
    assert (
        await _push(http, uuid, github, {**gh, "X-Hub-Signature-256": _sign("forged", github)})
    ).status_code == 403
    assert (await _push(http, uuid, github, gh)).status_code == 403
    r = await _push(http, uuid, github, {**gh, "X-Hub-Signature-256": _sign(token, github)})
    assert r.status_code == 200, r.text
    # A right password does not make a forged signature pass.
    bad = {**gh, "X-Hub-Signature-256": _sign("forged", github), **_basic(token)}
    assert (await _push(http, uuid, github, bad)).status_code == 403
    ping = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": _sign(token, b"{}")}
    assert (await _push(http, uuid, b"{}", ping)).status_code == 200

    gitlab = {
        "ref": "refs/heads/main",
        "checkout_sha": SHA,
        "project": {"default_branch": "main"},
        "commits": [{"id": SHA, "message": "gl"}],
    }
    gl = {"X-Gitlab-Event": "Push Hook"}
    assert (await _push(http, uuid, gitlab, {**gl, "X-Gitlab-Token": "forged"})).status_code == 403
    assert (await _push(http, uuid, gitlab, {**gl, "X-Gitlab-Token": token})).status_code == 200
    # Filtered out by branchtag_regex: accepted, nothing built.
    other = {**gitlab, "ref": "refs/heads/feature"}
    assert (await _push(http, uuid, other, {**gl, "X-Gitlab-Token": token})).status_code == 200

    bitbucket = json.dumps(
        {
            "push": {
                "changes": [
                    {"new": {"type": "branch", "name": "main", "target": {"hash": SHA, "message": "bb"}}}
                ]
            }
        }
    ).encode()
    bb = {"X-Event-Key": "repo:push"}
    assert (
        await _push(http, uuid, bitbucket, {**bb, "X-Hub-Signature": _sign("forged", bitbucket)})
    ).status_code == 403
    assert (
        await _push(http, uuid, bitbucket, {**bb, "X-Hub-Signature": _sign(token, bitbucket)})
    ).status_code == 200

    found = await rt.db.read(builds.list_for, repo.id, 10, None)
    messages = sorted(b.trigger_metadata["commit_info"]["message"] for b in found if b.trigger_metadata)
    assert messages == ["bb", "gh", "gl"]
    assert all(b.docker_tags == ["main", "latest"] for b in found)


async def test_activation_checks_its_configuration(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.post(TRIGGERS, json={"service": "custom-git"}, headers=owner)
    uuid = r.json()["id"]
    for config in (
        {},
        {"build_source": "file:///etc"},
        {"build_source": "git@h:o/r.git", "dockerfile_path": "/../x"},
        {"build_source": "git@h:o/r.git", "branchtag_regex": "("},
        {"build_source": "https://127.0.0.1/o/r.git"},
    ):
        r = await http.post(f"{TRIGGERS}{uuid}/activate", json={"config": config}, headers=owner)
        assert r.status_code == 400, (config, r.text)
    config = {"build_source": "git@h:o/r.git", "known_hosts": "h ssh-ed25519 AAAA"}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json={"config": config}, headers=owner)
    assert r.status_code == 400 and "known_hosts: line 1: this is not an ssh-ed25519 key" in r.text
    # the keys are kept as `<type> <base64>`, and are taken back in that form
    known_hosts: list[str | list[str]] = [f"# h:22 SSH-2.0-OpenSSH_9.2\nh {HOST_KEY}\n", [HOST_KEY]]
    for pinned in known_hosts:
        kept = trigger_service.clean_config({"build_source": "git@h:o/r.git", "known_hosts": pinned})
        assert kept["known_hosts"] == [HOST_KEY]
    # matched with RE2, which has no lookaround: refused, saying so
    config = {"build_source": "git@h:o/r.git", "branchtag_regex": "heads/(?!wip).*"}
    r = await http.post(f"{TRIGGERS}{uuid}/activate", json={"config": config}, headers=owner)
    assert r.status_code == 400 and "no lookahead or lookbehind" in r.json()["detail"], r.text
    r = await http.post(TRIGGERS, json={"service": "svn"}, headers=owner)
    assert r.status_code == 400
    r = await http.post(
        f"{TRIGGERS}{uuid}/activate",
        json={"config": {"build_source": "git@h:o/r.git"}, "pull_robot": "other+bot"},
        headers=owner,
    )
    assert r.status_code in (403, 404)
    assert (await http.put(f"{TRIGGERS}{uuid}", json={"enabled": False}, headers=owner)).status_code == 400


async def test_a_trigger_builds_pushes_are_logged_for_the_trigger_not_its_admin(world: World) -> None:
    """The builder pushes with the admin's rights, but the usage log names the build and its
    trigger with no performer (Quay's builds push with a build token: no user)."""
    http, owner = world.reg.http, world.api["owner"]
    rt = world.reg.wharf.rt
    uuid, _, _ = await _activated(world)
    r = await http.post(f"{TRIGGERS}{uuid}/start", json={"commit_sha": SHA}, headers=owner)
    assert r.status_code == 201, r.text
    build = await rt.db.read(builds.get, r.json()["id"])
    admin = await rt.db.read(accounts.get_by_name, "owner")
    assert build is not None and admin is not None
    pusher = await build_service.identity_of(rt, admin.id)
    assert pusher is not None
    target = RepositoryName("acme", "app")
    token = await build_service.registry_token(rt, pusher, target, pusher, [], build)
    headers = {"Authorization": f"Bearer {token}"}
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    digest = sha256(config)
    r = await http.post(
        "/v2/acme/app/blobs/uploads/", params={"digest": digest}, content=config, headers=headers
    )
    assert r.status_code == 201, r.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest,
            "size": len(config),
        },
        "layers": [],
    }
    r = await http.put(
        "/v2/acme/app/manifests/built",
        content=json.dumps(manifest).encode(),
        headers={**headers, "Content-Type": mt.OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text

    logs = (await http.get("/api/v1/repository/acme/app/logs", headers=owner)).json()["logs"]
    pushed = next(e for e in logs if e["kind"] == "push_repo" and e["metadata"].get("tag") == "built")
    assert "performer" not in pushed or pushed["performer"] is None
    assert pushed["metadata"]["build_uuid"] == build.uuid
    assert pushed["metadata"]["trigger_id"] == uuid and pushed["metadata"]["trigger_kind"] == "custom-git"
    assert pushed["metadata"]["token"] == audit_kinds.BUILD_TOKEN
    sentence = audit_kinds.sentence("push_repo", None, pushed["metadata"], str)
    assert sentence == f"Build {build.uuid[:8]} of a build trigger pushed tag built of acme/app"
