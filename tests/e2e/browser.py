"""A real browser for the web UI tests: Debian's Chromium driven by playwright (never
`playwright install`, see shared/reference/clients.md), and numbered screenshots of the pages a
test visits, in WHARF_TEST_ARTIFACTS (default: test-artifacts/ in the repository) for CI to keep."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.harness import Server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("WHARF_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"


class Shots:
    """Numbered screenshots of one test, so that the files read as the story of the test."""

    def __init__(self, page: Page, test: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / test
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.count = 0

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.dir / f"{self.count:02d}-{name}.png"), full_page=True)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (scripts/install-system-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def sign_in(page: Page, server: Server, user: str, password: str) -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
