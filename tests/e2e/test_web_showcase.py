"""A small registry that looks like a real one, for the screenshots of docs/ui.md (home.png at
1280 px, repositories-phone.png at 390 px): an organization with eight repositories with
descriptions, a few tags of different sizes, two of them starred. The rows show what docs/ui.md
says they do: the description, the visibility, the tag count, the size, the last push and the
stars. Screenshots: tests/e2e/browser.py."""

from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import Shots, sign_in
from tests.e2e.harness import ADMIN_PASSWORD, SERVER_KIND, Server, admin_api
from tests.e2e.tiny_image import push_tiny_image

if SERVER_KIND != "wharf":
    pytest.skip("the web UI is Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e

REPOSITORIES = [
    # name, visibility, description, tags, kilobytes of layer
    ("api-gateway", "public", "Edge gateway for the public API: TLS, rate limits, routing", 3, 18),
    ("billing", "private", "Billing service", 2, 20),
    ("ci-runner", "private", "Build runners for the CI farm (podman inside)", 4, 12),
    ("docs-site", "public", "Static site of the user documentation", 1, 1),
    ("frontend", "public", "Web front end, built nightly", 3, 45),
    ("ml-inference", "private", "GPU inference server with ONNX runtime", 2, 42),
    ("postgres-backup", "private", "Nightly pg_dump to object storage", 2, 6),
    ("search-indexer", "private", "", 0, 0),
]
STARRED = ("api-gateway", "frontend")


def _text(name: str, kilobytes: int) -> str:
    """Layer content that gzip cannot shrink much, so that sizes differ as they would."""
    out: list[str] = []
    seed = name.encode()
    while len(out) * 64 < kilobytes * 1024 * 2:
        seed = hashlib.sha256(seed).digest()
        out.append(seed.hex())
    return "".join(out)


def test_a_realistic_organization_on_the_home_page_and_a_phone(browser: Browser, server: Server) -> None:
    with admin_api(server) as api:
        assert (
            api.post("/organization/", json={"name": "acme", "email": "ops@acme.example"}).status_code == 201
        )
        for name, visibility, description, _, _ in REPOSITORIES:
            body = {
                "namespace": "acme",
                "repository": name,
                "visibility": visibility,
                "description": description,
            }
            assert api.post("/repository", json=body).status_code == 201
        for name in STARRED:
            assert (
                api.post("/user/starred", json={"namespace": "acme", "repository": name}).status_code == 201
            )
    for name, _, _, count, kilobytes in REPOSITORIES:
        for i in range(count):
            push_tiny_image(server, f"acme/{name}", f"v1.{i}", text=_text(f"{name}-{i}", kilobytes))

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    shot = Shots(page, "showcase")
    sign_in(page, server, "admin", ADMIN_PASSWORD)
    page.goto(f"{server.url}/?show=readable")
    rows = page.locator("table.repo-table tbody tr")
    expect(rows).to_have_count(len(REPOSITORIES))
    gateway = rows.filter(has_text="acme/api-gateway")
    expect(gateway).to_contain_text("Edge gateway for the public API")
    expect(gateway).to_contain_text("public")
    expect(gateway).to_contain_text("KiB")
    expect(rows.filter(has_text="acme/search-indexer")).to_contain_text("no tags yet")
    shot("home")  # docs/images/ui/home.png

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    shot = Shots(phone, "showcase-phone")
    sign_in(phone, server, "admin", ADMIN_PASSWORD)
    phone.goto(f"{server.url}/organization/acme?tab=repos")
    expect(phone.get_by_text("acme/ci-runner")).to_be_visible()
    shot("organization-repositories")  # docs/images/ui/repositories-phone.png
