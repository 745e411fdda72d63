"""A real browser for the web UI tests: Debian's Chromium driven by playwright (never
`playwright install`, see shared/reference/clients.md), and numbered screenshots of the pages a
test visits, in WHARF_TEST_ARTIFACTS (default: test-artifacts/ in the repository) for CI to keep."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# axe-core (npm), the accessibility checker the browser tests inject into pages. npm installs it
# once into a cache outside the repository (WHARF_TEST_AXE_DIR, default ~/.cache/wharf-test/axe-core),
# pinned to one version so that a new rule cannot fail a run by surprise.
AXE_VERSION = "4.14.1"
AXE_DIR = Path(os.environ.get("WHARF_TEST_AXE_DIR", Path.home() / ".cache" / "wharf-test" / "axe-core"))


@functools.cache
def axe_script() -> str:
    script = AXE_DIR / AXE_VERSION / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: apt-get install npm (scripts/install-system-deps)")
        prefix = script.parents[2]
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
    return script.read_text()


_AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
  }));
}"""


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now. The page's context
    needs `bypass_csp=True`: the pages allow scripts from /static only."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_script())
    found: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return [v for v in found if v["impact"] in ("serious", "critical")]
