"""The manifest page and a robot's credentials in Chromium: a real image's history and
configuration (built by buildah, pushed by skopeo), an index's platforms leading to each image, and
every credential format, the podman login among them working as shown. Screenshots:
tests/e2e/browser.py."""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    CLIENT_TOOLS,
    SERVER_KIND,
    Clients,
    Server,
    creds_args,
    require_tools,
)

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def _push(clients: Clients, server: Server, source: str, ref: str, *extra: str) -> str:
    clients.run(
        "skopeo",
        "copy",
        *extra,
        "--dest-tls-verify=false",
        *creds_args(server.creds, "--dest-creds"),
        source,
        f"docker://{server.host}/{ref}",
    )
    return clients.skopeo_digest(f"docker://{server.host}/{ref}", server.creds)


def test_manifest_page_shows_history_configuration_and_platforms(
    browser: Browser, server: Server, clients: Clients, images: BuiltImages
) -> None:
    layers = _push(clients, server, images.layers_oci, "admin/built:latest")
    index = _push(clients, server, images.multi_oci, "admin/multi:latest", "--all")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    shot = Shots(page, "manifest_page")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/repository/admin/built?tab=tags")
    page.locator("table.tags").get_by_role("link", name=re.compile(layers.split(":")[1][:12])).click()
    page.wait_for_url(f"**/repository/admin/built/manifest/{layers}")

    history = page.locator("table.history tbody tr")
    expect(history.filter(has_text="RUN echo built-by-wharf-e2e > /data/run.txt")).to_have_count(1)
    expect(history.filter(has_text="/data/a.bin")).to_have_count(1)
    assert "#(nop)" not in page.locator("table.history").inner_text()
    # every layer is matched to a step: the rows with a size are the manifest's 4 layers
    sizes = [t.strip() for t in history.locator("td:last-child").all_inner_texts()]
    assert len([s for s in sizes if re.fullmatch(r"[\d.]+ (B|KiB|MiB)", s)]) == images.layers_count, sizes
    config = page.locator("dl.image-config")
    expect(config).to_contain_text('["/bin/sh"]')
    expect(config).to_contain_text("PATH=/bin")
    expect(config).to_contain_text("linux/")
    # the blobs are folded away under Layers
    layer_table = page.locator("details.layers table")
    expect(layer_table).to_be_hidden()
    shot("manifest-history")
    page.locator("details.layers summary").click()
    expect(layer_table).to_be_visible()
    expect(layer_table.locator("tbody tr")).to_have_count(images.layers_count + 1)
    shot("manifest-layers")

    page.goto(f"{server.url}/repository/admin/multi/manifest/{index}")
    platforms = page.locator("table.platforms tbody tr")
    expect(platforms).to_have_count(2)
    expect(platforms.filter(has_text="linux/amd64")).to_have_count(1)
    arm = platforms.filter(has_text="linux/arm64/v8")
    expect(arm).to_have_count(1)
    expect(page.locator("table.history")).to_have_count(0)
    shot("manifest-index")
    arm.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/repository/admin/multi/manifest/sha256:[0-9a-f]{64}$"))
    expect(page.locator("dl.image-config")).to_contain_text("linux/arm64/v8")
    shot("manifest-index-child")


def test_robot_credentials_in_every_format(browser: Browser, server: Server, clients: Clients) -> None:
    page = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    ).new_page()
    shot = Shots(page, "robot_credentials")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/user/admin?tab=robots")
    page.get_by_label("Robot name").fill("puller")
    page.get_by_role("button", name="Create robot account").click()
    page.wait_for_url(re.compile(r".*/user/admin/robots/puller\?credentials=1$"))

    # the token leaves the page until asked for again
    page.goto(f"{server.url}/user/admin/robots/puller")
    expect(page.locator(".credentials")).to_have_count(0)
    page.get_by_role("link", name="Show the token and credentials").click()
    page.wait_for_url(re.compile(r".*\?credentials=1#credentials$"))
    panel = page.locator(".credentials")
    token = panel.locator("details").first.locator(".command code").nth(1).inner_text()
    assert len(token) >= 32
    shot("credentials")

    formats = ["Podman login", "Docker login", "Kubernetes pull secret", "Docker configuration", "Mesos"]
    for name in formats:
        panel.locator("summary", has_text=name).click()
        details = panel.locator("details[open]")
        expect(details).to_have_count(1)  # one format open at a time
        expect(details.locator("summary")).to_contain_text(name)

    auth = base64.b64encode(f"admin+puller:{token}".encode()).decode()
    expected = {"auths": {server.host: {"auth": auth}}}

    panel.locator("summary", has_text="Kubernetes pull secret").click()
    secret = yaml.safe_load(panel.locator("#kubernetes-secret").inner_text())
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert json.loads(base64.b64decode(secret["data"][".dockerconfigjson"])) == expected
    shot("credentials-kubernetes")

    panel.locator("summary", has_text="Docker configuration").click()
    panel.get_by_role("button", name="Copy config.json").click()
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == expected
    with page.expect_download() as download:
        panel.get_by_role("link", name="Download config.json").click()
    assert json.loads(Path(download.value.path()).read_text()) == expected

    panel.locator("summary", has_text="Podman login").click()
    login = panel.locator("details[open] .command code").inner_text()
    command = shlex.split(login)
    assert command[:3] == ["podman", "login", "--tls-verify=false"] and command[-1] == server.host
    clients.run(*command)
    shot("credentials-podman")
