"""Notifications through /api/v1, delivered by the job queue to real local receivers (an HTTP
server for webhooks and Slack, aiosmtpd for e-mail)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_HOSTNAME
from tests.integration.world import World
from tests.receivers import HttpReceiver, Mailbox, http_receiver, plain_text, smtp_server
from wharf.config import Settings, load_settings
from wharf.core import tags
from wharf.core.clock import now_ms
from wharf.core.repositories import get as get_repo
from wharf.integrations.notification_methods import SIGNATURE_HEADER, verify
from wharf.jobs import runner


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def settings(data_dir: object, db_uri: str | None, mailbox: Mailbox) -> Settings:
    return load_settings(
        None,
        {
            "DATA_DIR": data_dir,
            "DB_URI": db_uri,
            "SERVER_HOSTNAME": TEST_HOSTNAME,
            "SSRF_ALLOWED_HOSTS": ["127.0.0.1"],
            "NOTIFICATION_RETRY_DELAY_S": 0,  # retries are ready at once; the test drives the queue
            **mailbox.settings(),
        },
        environ={},
    )


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


async def drain(world: World) -> None:
    """Run every job that is ready, as the workers would."""
    while await runner.run_once(world.reg.wharf.rt):
        pass


def spec(event: str, method: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event": event, "method": method, "config": config, "eventConfig": {}, **extra}


async def get(world: World, url: str, user: str = "owner") -> Any:
    r = await world.reg.http.get(url, headers=world.api[user])
    assert r.status_code == 200, r.text
    return r.json()


async def create(world: World, repo: str, body: dict[str, Any], user: str = "owner") -> httpx.Response:
    return await world.reg.http.post(
        f"/api/v1/repository/{repo}/notification/", json=body, headers=world.api[user]
    )


async def webhook(world: World, url: str, event: str = "repo_push", **extra: Any) -> dict[str, Any]:
    r = await create(world, "acme/app", spec(event, "webhook", {"url": url}, title="hook", **extra))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_push_fires_a_signed_webhook_with_the_seed_payload(
    world: World, receiver: HttpReceiver
) -> None:
    hook = await webhook(world, receiver.url + "/hook")
    assert hook["event"] == "repo_push" and hook["number_of_failures"] == 0 and hook["signing_secret"]
    digest, _ = await world.reg.push_image("acme/app", "v1")
    await drain(world)
    [got] = receiver.wait_for(1)
    body = json.loads(got.body)
    # seed 003, 5.1.1
    assert body == {
        "repository": "acme/app",
        "namespace": "acme",
        "name": "app",
        "docker_url": "registry.test/acme/app",
        "homepage": "http://registry.test/repository/acme/app",
        "updated_tags": ["v1"],
    }
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-wharf-event"] == "repo_push" and got.headers["x-wharf-delivery"]
    assert verify(hook["signing_secret"], got.headers[SIGNATURE_HEADER.lower()], got.body)
    assert not verify("another key", got.headers[SIGNATURE_HEADER.lower()], got.body)
    assert not verify(hook["signing_secret"], got.headers[SIGNATURE_HEADER.lower()], got.body + b" ")
    # a push by digest updates no tag and fires nothing
    await world.reg.push_image("acme/app")
    await drain(world)
    assert len(receiver.requests) == 1
    # the attempt is visible
    view = await get(world, f"/api/v1/repository/acme/app/notification/{hook['uuid']}")
    [attempt] = view["recent_attempts"]
    assert attempt["success"] is True and "200" in attempt["detail"] and digest


async def test_links_in_payloads_never_come_from_the_host_header(
    world: World, receiver: HttpReceiver
) -> None:
    await webhook(world, receiver.url + "/hook")
    world.reg.http.headers["Host"] = "evil.example"  # the pusher chooses this header
    try:
        await world.reg.push_image("acme/app", "v1")
    finally:
        del world.reg.http.headers["Host"]
    await drain(world)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["docker_url"] == "registry.test/acme/app"
    assert body["homepage"] == "http://registry.test/repository/acme/app"


async def test_legacy_payload_of_seed_001(world: World, receiver: HttpReceiver) -> None:
    r = await create(
        world, "acme/app", spec("repo_push", "webhook", {"url": receiver.url, "payload": "legacy"})
    )
    assert r.status_code == 201, r.text
    digest, _ = await world.reg.push_image("acme/app", "latest")
    await drain(world)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body == {
        "pushed_image_count": 1,
        "name": "app",
        "repository": "acme/app",
        "docker_url": "registry.test/acme/app",
        "updated_tags": {"latest": digest},
        "namespace": "acme",
        "visibility": "private",
        "homepage": "http://registry.test/repository/acme/app",
    }


async def test_three_failures_disable_until_reset(world: World, receiver: HttpReceiver) -> None:
    receiver.statuses = [500, 502, 500]
    hook = await webhook(world, receiver.url)
    await world.reg.push_image("acme/app", "v1")
    await drain(world)  # the attempt and both retries
    assert len(receiver.wait_for(3)) == 3
    url = f"/api/v1/repository/acme/app/notification/{hook['uuid']}"
    view = await get(world, url)
    assert view["number_of_failures"] == 3
    assert [a["success"] for a in view["recent_attempts"]] == [False, False, False]
    assert "HTTP 500" in view["recent_attempts"][0]["detail"]
    # disabled: another push queues nothing
    await world.reg.push_image("acme/app", "v2")
    await drain(world)
    assert len(receiver.requests) == 3
    # the reset turns it back on
    r = await world.reg.http.post(url, headers=world.api["owner"])
    assert r.status_code == 204
    await world.reg.push_image("acme/app", "v3")
    await drain(world)
    assert json.loads(receiver.wait_for(4)[3].body)["updated_tags"] == ["v3"]
    view = await get(world, url)
    assert view["number_of_failures"] == 0
    kinds = [e["kind"] for e in (await get(world, "/api/v1/repository/acme/app/logs"))["logs"]]
    assert "add_repo_notification" in kinds and "reset_repo_notification" in kinds


async def test_a_failure_then_success_resets_the_count(world: World, receiver: HttpReceiver) -> None:
    receiver.statuses = [503]
    hook = await webhook(world, receiver.url)
    await world.reg.push_image("acme/app", "v1")
    await drain(world)
    got = receiver.wait_for(2)
    # the retry carries the same delivery id, so a receiver can drop duplicates
    assert got[0].headers["x-wharf-delivery"] == got[1].headers["x-wharf-delivery"]
    view = await get(world, f"/api/v1/repository/acme/app/notification/{hook['uuid']}")
    assert view["number_of_failures"] == 0
    assert [a["success"] for a in view["recent_attempts"]] == [True, False]


async def test_crud_and_who_may(world: World, receiver: HttpReceiver) -> None:
    http = world.reg.http
    hook = await webhook(world, receiver.url)
    listed = await get(world, "/api/v1/repository/acme/app/notification/")
    assert [n["uuid"] for n in listed["notifications"]] == [hook["uuid"]]
    assert set(hook) >= {"uuid", "title", "event", "method", "config", "event_config", "number_of_failures"}
    base = "/api/v1/repository/acme/app/notification/"
    # writers and readers are not admins; outsiders do not see the repository
    for user, status in (("writer", 403), ("reader", 403), ("outsider", 404)):
        assert (await http.get(base, headers=world.api[user])).status_code == status
        made = await create(world, "acme/app", spec("repo_push", "webhook", {"url": receiver.url}), user)
        assert made.status_code == status
    # a notification of another repository is not reachable through this one
    other = await create(world, "acme/pub", spec("repo_push", "webhook", {"url": receiver.url}))
    r = await http.delete(base + other.json()["uuid"], headers=world.api["owner"])
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    assert (await http.delete(base + hook["uuid"], headers=world.api["owner"])).status_code == 204
    assert (await http.get(base + hook["uuid"], headers=world.api["owner"])).status_code == 404


LOCAL = {"url": "http://127.0.0.1/"}
BAD = [
    (spec("nope", "webhook", LOCAL), "unknown event"),
    (spec("repo_push", "carrier_pigeon", {}), "unknown method"),
    (spec("quota_warning", "webhook", LOCAL), "namespace event"),
    (spec("repo_push", "webhook", {"url": "ftp://example.com/"}), "http://"),
    (spec("repo_push", "webhook", {"url": "http://10.0.0.1/x"}), "internal address"),
    (spec("repo_push", "webhook", {"url": "http://169.254.169.254/"}), "internal"),
    (spec("repo_push", "slack", {}), "Slack"),
    (spec("repo_push", "email", {"email": "x@example.com"}), "confirmed"),
    (spec("repo_push", "quay_notification", {"target": {"kind": "team", "name": "ghosts"}}), "no team"),
    (spec("repo_push", "quay_notification", {"target": {"kind": "org", "name": "other"}}), "own"),
    (spec("repo_image_expiry", "webhook", LOCAL), "days"),
    (spec("vulnerability_found", "webhook", LOCAL, eventConfig={"level": 9}), "level"),
    (spec("build_success", "webhook", LOCAL, eventConfig={"ref-regex": "("}), "ref-regex"),
    (spec("repo_push", "hipchat", {"room_id": "1"}), "notification_token"),
    ({"event": "repo_push", "method": "webhook"}, "config"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
async def test_bad_notifications_are_refused_clearly(
    world: World, body: dict[str, Any], message: str
) -> None:
    r = await create(world, "acme/app", {"eventConfig": {}, **body})
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"] or message in r.text


async def test_blacklisted_host_is_refused(world: World) -> None:
    settings = world.reg.wharf.rt.settings.model_copy(update={"WEBHOOK_HOSTNAME_BLACKLIST": ["127.0.0.1"]})
    object.__setattr__(world.reg.wharf.rt, "settings", settings)
    r = await create(world, "acme/app", spec("repo_push", "webhook", {"url": "http://127.0.0.1:9/"}))
    assert r.status_code == 400 and "WEBHOOK_HOSTNAME_BLACKLIST" in r.json()["detail"]


async def test_slack_message(world: World, receiver: HttpReceiver) -> None:
    r = await create(
        world, "acme/app", spec("repo_push", "slack", {"url": receiver.url + "/services/T0/B0/x"})
    )
    assert r.status_code == 201, r.text
    await world.reg.push_image("acme/app", "v1")
    await drain(world)
    got = json.loads(receiver.wait_for(1)[0].body)
    assert got["text"] == "Repository acme/app updated"
    [attachment] = got["attachments"]
    assert attachment["color"] == "good" and attachment["mrkdwn_in"] == ["text"]
    assert "v1" in attachment["text"] and attachment["fallback"] == got["text"]


async def test_email_needs_a_confirmed_address(world: World, mailbox: Mailbox) -> None:
    http, owner = world.reg.http, world.api["owner"]
    start = len(mailbox.messages)
    url = "/api/v1/repository/acme/app/authorizedemail/team@example.com"
    assert (await http.get(url, headers=owner)).status_code == 404
    r = await http.post(url, headers=owner)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "email": "team@example.com",
        "repository": "app",
        "namespace": "acme",
        "confirmed": False,
    }
    message = mailbox.wait_for(start + 1)[start]
    assert message["To"] == "team@example.com"
    link = re.search(r"http://\S+/authrepoemail\?code=\S+", plain_text(message))
    assert link is not None
    assert (await http.get("/authrepoemail?code=wrong")).status_code == 404
    r = await http.get(link.group(0).replace("http://registry.test", ""))
    assert r.status_code == 200 and "confirmed" in r.text
    assert (await http.get(url, headers=owner)).json()["confirmed"] is True
    # now the notification can be made, and a push e-mails the address
    r = await create(world, "acme/app", spec("repo_push", "email", {"email": "team@example.com"}))
    assert r.status_code == 201, r.text
    await world.reg.push_image("acme/app", "v7")
    await drain(world)
    sent = mailbox.wait_for(start + 2)[start + 1]
    assert sent["Subject"] == "Repository acme/app updated" and sent["To"] == "team@example.com"
    assert "v7" in plain_text(sent)
    # a confirmed address of one repository is not confirmed for another
    r = await create(world, "acme/pub", spec("repo_push", "email", {"email": "team@example.com"}))
    assert r.status_code == 400


async def test_in_app_notifications_for_a_team_and_the_org(world: World) -> None:
    http = world.reg.http
    for target in ({"kind": "team", "name": "writers"}, {"kind": "org", "name": "acme"}):
        r = await create(world, "acme/app", spec("repo_push", "quay_notification", {"target": target}))
        assert r.status_code == 201, r.text
    await world.reg.push_image("acme/app", "v1")
    await drain(world)
    # the writer (team member) gets one; the owner (org admin) sees the organization's
    writer = await get(world, "/api/v1/user/notifications", "writer")
    [item] = writer["notifications"]
    assert item["kind"] == "repo_push" and item["dismissed"] is False and item["organization"] is None
    assert item["metadata"]["updated_tags"] == ["v1"] and writer["additional"] is False
    owner = await get(world, "/api/v1/user/notifications")
    assert [n["organization"] for n in owner["notifications"]] == ["acme"]
    assert (await http.get("/api/v1/user/notifications", headers=world.api["reader"])).json()[
        "notifications"
    ] == []
    # mark as read
    url = f"/api/v1/user/notifications/{item['id']}"
    r = await http.put(url, json={"dismissed": True}, headers=world.api["writer"])
    assert r.status_code == 200 and r.json()["dismissed"] is True
    assert (await http.get(url, headers=world.api["reader"])).status_code == 404
    assert (await http.put(url, json={"dismissed": "maybe"}, headers=world.api["writer"])).status_code == 400


async def test_test_action_sends_the_sample(world: World, receiver: HttpReceiver) -> None:
    hook = await webhook(world, receiver.url, event="vulnerability_found", eventConfig={"level": 1})
    url = f"/api/v1/repository/acme/app/notification/{hook['uuid']}/test"
    r = await world.reg.http.post(url, headers=world.api["owner"])
    assert r.status_code == 200
    await drain(world)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["repository"] == "acme/app" and body["vulnerability"]["id"] == "CVE-1234-5678"
    assert hook["event_config"] == {"level": 1}


async def test_image_expiry_announces_each_tag_once(world: World, receiver: HttpReceiver) -> None:
    await webhook(world, receiver.url, event="repo_image_expiry", eventConfig={"days": 3})
    await world.reg.push_image("acme/app", "soon")
    await world.reg.push_image("acme/app", "later")
    await world.reg.push_image("acme/app", "never")
    rt = world.reg.wharf.rt
    repo = await rt.db.read(get_repo, "acme", "app")
    assert repo is not None
    day = 86_400_000
    await rt.db.write(tags.set_expiration, repo.id, "soon", now_ms() + day)
    await rt.db.write(tags.set_expiration, repo.id, "later", now_ms() + 10 * day)
    for _ in range(2):
        await runner.HANDLERS["notification_image_expiry"](rt, {})
        await drain(world)
    [got] = receiver.wait_for(1)
    body = json.loads(got.body)
    assert body["tags"] == ["soon"] and body["expiring_in"] == "3 days" and body["repository"] == "acme/app"


async def test_namespace_notifications(world: World, receiver: HttpReceiver) -> None:
    http, owner = world.reg.http, world.api["owner"]
    body = spec("quota_warning", "webhook", {"url": receiver.url})
    org_url = "/api/v1/organization/acme/notifications"
    r = await http.post(org_url, json=body, headers=owner)
    assert r.status_code == 201, r.text
    uuid = r.json()["uuid"]
    assert (await http.post(org_url, json=body, headers=world.api["writer"])).status_code == 403
    repo_event = {**body, "event": "repo_push"}
    assert (await http.post(org_url, json=repo_event, headers=owner)).status_code == 400
    assert [n["uuid"] for n in (await get(world, org_url))["notifications"]] == [uuid]
    # repository lists do not show namespace notifications
    assert (await get(world, "/api/v1/repository/acme/app/notification/"))["notifications"] == []
    r = await http.post(f"/api/v1/organization/acme/notifications/{uuid}/test", headers=owner)
    assert r.status_code == 200
    await drain(world)
    got = json.loads(receiver.wait_for(1)[0].body)
    assert got["namespace"] == "acme" and got["threshold_percent"] == 80 and "repository" not in got
    # the user namespace has its own list
    mine = await http.post("/api/v1/user/namespacenotifications", json=body, headers=world.api["writer"])
    assert mine.status_code == 201
    listed = await get(world, "/api/v1/user/namespacenotifications", "writer")
    assert [n["uuid"] for n in listed["notifications"]] == [mine.json()["uuid"]]
    r = await http.delete(f"/api/v1/user/namespacenotifications/{uuid}", headers=world.api["writer"])
    assert r.status_code == 404
    assert (
        await http.delete(f"/api/v1/organization/acme/notifications/{uuid}", headers=owner)
    ).status_code == 204


async def test_deleting_the_repository_drops_its_notifications_and_queued_deliveries(
    world: World, receiver: HttpReceiver
) -> None:
    await webhook(world, receiver.url)
    await world.reg.push_image("acme/app", "v1")
    r = await world.reg.http.delete("/api/v1/repository/acme/app", headers=world.api["owner"])
    assert r.status_code == 204
    await drain(world)
    assert receiver.requests == []
