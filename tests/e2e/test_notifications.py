"""Issue 5's scenario with real parts: skopeo pushes fire signed webhooks at a real HTTP receiver,
a receiver that keeps failing disables its notification, a delivery queued before a restart is
made after it, and the push and the pull show up in the repository's usage logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import CLIENT_TOOLS, SERVER_KIND, Clients, Server, admin_api, creds_args, require_tools
from tests.receivers import http_receiver
from tests.waiting import wait_until
from wharf.integrations.notification_methods import verify

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("notifications are Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPO = "admin/e2e-notify"
SETTINGS = {"WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.1"]', "WHARF_NOTIFICATION_RETRY_DELAY_S": "0"}


@pytest.fixture
def server_settings() -> dict[str, str]:
    return dict(SETTINGS)


def _until(check: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    return wait_until(check, what, timeout_s, interval_s=0.1)


def _queued(server: Server, queue: str) -> float:
    """Jobs of `queue` waiting or running, as the server's /metrics counts them (the database's)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wharf_queue_depth" and sample.labels.get("queue") == queue:
                return sample.value
    return 0


def test_push_webhook_failures_restart_and_logs(
    server: Server, clients: Clients, images: BuiltImages, make_clients: Callable[[str], Clients]
) -> None:
    creds = server.creds
    ref = f"docker://{server.host}/{REPO}"

    def push(tag: str) -> None:
        dest_creds = creds_args(creds, "--dest-creds")
        clients.run(
            "skopeo", "copy", "--dest-tls-verify=false", *dest_creds, images.busybox_oci, f"{ref}:{tag}"
        )

    push("first")  # creates the repository
    api = admin_api(server)
    with http_receiver() as ok_receiver, http_receiver() as failing:
        failing.statuses = [500] * 10
        made = {}
        for name, url in (("ok", ok_receiver.url + "/hook"), ("failing", failing.url)):
            spec = {"event": "repo_push", "method": "webhook", "config": {"url": url}, "title": name}
            r = api.post(f"/repository/{REPO}/notification/", json={**spec, "eventConfig": {}})
            assert r.status_code == 201, r.text
            made[name] = r.json()

        # a skopeo push fires repo_push: the body is the seed's, the signature verifies
        push("v1")
        [got] = ok_receiver.wait_for(1, timeout_s=60)
        body = json.loads(got.body)
        assert body == {
            "repository": REPO,
            "namespace": "admin",
            "name": "e2e-notify",
            "docker_url": f"{server.host}/{REPO}",
            "homepage": f"http://{server.host}/repository/{REPO}",
            "updated_tags": ["v1"],
        }
        assert verify(made["ok"]["signing_secret"], got.headers["x-wharf-signature"], got.body)

        # the failing receiver is tried three times, then its notification is disabled
        failing.wait_for(3, timeout_s=90)
        url = f"/repository/{REPO}/notification/{made['failing']['uuid']}"
        view = _until(lambda: (v := api.get(url).json())["number_of_failures"] >= 3 and v, "3 failures")
        assert view["number_of_failures"] == 3 and not any(a["success"] for a in view["recent_attempts"])
        push("v2")
        ok_receiver.wait_for(2, timeout_s=60)
        assert len(failing.requests) == 3  # disabled: nothing more was sent

        # a delivery queued while no worker runs is made after a restart
        server.settings_env = {**SETTINGS, "WHARF_WORKERS_IN_PROCESS": "false"}
        server.restart()
        push("v3")
        # the push queued its delivery (in its own transaction) and no worker takes it: it waits
        _until(lambda: _queued(server, "notification") == 1, "the v3 delivery in the queue")
        assert len(ok_receiver.requests) == 2
        server.settings_env = dict(SETTINGS)
        server.restart(crash=True)
        delivered = ok_receiver.wait_for(3, timeout_s=60)
        assert json.loads(delivered[2].body)["updated_tags"] == ["v3"]

    # the push and a pull are in the repository's logs, with performer and address
    puller = make_clients("puller")
    puller.run("skopeo", "inspect", "--tls-verify=false", *creds_args(creds), f"{ref}:v1")

    def logged() -> list[dict[str, Any]] | None:
        entries = api.get(f"/repository/{REPO}/logs").json()["logs"]
        kinds = {e["kind"] for e in entries}
        return entries if {"push_repo", "pull_repo", "add_repo_notification"} <= kinds else None

    entries = _until(logged, "push and pull log entries")
    for kind in ("push_repo", "pull_repo"):
        entry = next(e for e in entries if e["kind"] == kind)
        assert entry["performer"]["name"] == "admin" and entry["ip"] == "127.0.0.1", entry
        assert entry["metadata"]["repo"] == "e2e-notify"
