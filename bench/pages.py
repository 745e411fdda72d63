"""The web UI's weight at scale (issue 15): HTML size, DOM node count and time to the load event of
the Tags and Tag history tabs at 100, 2,000 and 100,000 tags, and of the repository lists of a
namespace of 10,000 repositories, measured in Chromium.

    python -m bench.pages [--runs N] [--big N] [--markdown FILE]

Starts `wharf serve` on its embedded defaults (SQLite) in a temporary directory, pushes one small
image per tag repository over HTTP, then fills the database directly: the tags as bulk INSERTs of
tag rows on that image (pushing 100,000 manifests would measure the registry, not the pages) and
the repositories through core.repositories. Each figure is the median of --runs loads of the page
by a signed-in admin. Needs Debian's Chromium and the test extra (playwright), like the browser
tests. Not part of the tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import insert

from bench.scenarios import Session
from bench.servers import PASSWORD, Server, start_wharf
from wharf.config import load_settings
from wharf.core import accounts, audit, manifests, orgs, repositories
from wharf.db.engine import Database, Db
from wharf.db.models import Tag

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BY = audit.Actor(None, "admin")
TAG_COUNTS = (100, 2_000, 100_000)
REPOSITORIES = 10_000
BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Weight:
    page: str
    html_bytes: int
    dom_nodes: int
    load_ms: float
    load_range: tuple[float, float]


def _fill_tags(db: Db, repo: str, digest: str, count: int) -> None:
    """`count` live tags t-000000.. on the image `digest`, as tags.point would leave them, in
    batches of INSERTs (one lifetime each, started a millisecond apart)."""
    record = repositories.get(db, "admin", repo)
    assert record is not None
    manifest_id = db.execute(manifests.id_by_digest(record.id, digest)).scalar_one()
    start = int(time.time() * 1000) - count
    for first in range(0, count, BATCH):
        rows = [
            {
                "repository_id": record.id,
                "name": f"t-{i:06d}",
                "manifest_id": manifest_id,
                "lifetime_start_ms": start + i,
                "lifetime_end_ms": None,
                "hidden": False,
                "reversion": False,
                "immutable": False,
            }
            for i in range(first, min(first + BATCH, count))
        ]
        db.execute(insert(Tag), rows)


def _fill_namespace(db: Db, count: int) -> None:
    """Organization `big` with big/svc-00000.. (every fourth public)."""
    admin = accounts.get_by_name(db, "admin")
    assert admin is not None
    orgs.create(db, "big", None, admin, BY)
    for i in range(count):
        visibility = "public" if i % 4 == 0 else "private"
        repositories.create(db, "big", f"svc-{i:05d}", visibility=visibility, actor=BY)


def fill(server: Server, data_dir: Path, tag_counts: tuple[int, ...], repository_count: int) -> list[str]:
    """The repositories and namespace measured; the pages' paths."""
    s = Session(server)
    seeded = []
    for count in tag_counts:
        repo = f"tags{count}"
        digest = s.put_manifest(s.repo(repo), "seed", s.image(s.repo(repo), [os.urandom(512)]))
        seeded.append((repo, digest, count))
    settings = load_settings(None, {"DATA_DIR": data_dir}, environ={})
    db = Database(settings.db_uri.replace("+aiosqlite", ""))
    try:
        for repo, digest, count in seeded:
            t = time.perf_counter()
            db.run_write(_fill_tags, repo, digest, count)
            print(f"  {count:,} tags in admin/{repo}: {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        db.run_write(_fill_namespace, repository_count)
        print(f"  {repository_count:,} repositories in big: {time.perf_counter() - t:.1f} s", flush=True)
    finally:
        db.dispose()
    paths = []
    for repo, _, _ in seeded:
        paths += [f"/repository/admin/{repo}?tab=tags", f"/repository/admin/{repo}?tab=history"]
    return [
        *paths,
        f"/repository/admin/tags{tag_counts[-1]}?tab=tags&q=t-0012",
        f"/repository/admin/tags{tag_counts[-1]}?tab=tags&page=1000",
        f"/repository/admin/tags{tag_counts[-1]}?tab=history&q=t-0012",
        f"/repository/admin/tags{tag_counts[-1]}?tab=history&page=1000",
        "/organization/big",
        "/organization/big?tab=repos&q=svc-09&page=5",
        "/?show=readable",
    ]


_MEASURE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {nodes: document.getElementsByTagName('*').length, load: nav.loadEventEnd - nav.startTime};
}"""


def _measure(page: Page, url: str, runs: int) -> Weight:
    loads, size, nodes = [], 0, 0
    for _ in range(runs):
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, (url, response and response.status)
        size = len(response.body())
        found: dict[str, Any] = page.evaluate(_MEASURE)
        nodes = int(found["nodes"])
        loads.append(float(found["load"]))
    return Weight(
        url.split("//", 1)[1].split("/", 1)[1],
        size,
        nodes,
        statistics.median(loads),
        (min(loads), max(loads)),
    )


def measure(server: Server, paths: list[str], runs: int) -> list[Weight]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/signin")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/")
        out = [_measure(page, server.url + path, runs) for path in paths]
        browser.close()
    return out


def render(weights: list[Weight], header: str) -> str:
    lines = [
        header,
        "",
        "| page | HTML | DOM nodes | load event (median, range) |",
        "|---|---:|---:|---:|",
    ]
    for w in weights:
        lo, hi = w.load_range
        load = f"{w.load_ms:.0f} ms ({lo:.0f}-{hi:.0f})"
        lines.append(f"| `/{w.page}` | {w.html_bytes / 1024:.0f} KB | {w.dom_nodes:,} | {load} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    ap.add_argument("--runs", type=int, default=5, help="loads of each page (default 5)")
    ap.add_argument("--big", type=int, default=TAG_COUNTS[-1], help="tags of the biggest repository")
    ap.add_argument("--repositories", type=int, default=REPOSITORIES, help="repositories of `big`")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wharf-pages-"))
    load_before = os.getloadavg()
    server = start_wharf(root, None)
    try:
        print("filling...", flush=True)
        t = time.perf_counter()
        paths = fill(server, root / "wharf", (*TAG_COUNTS[:-1], args.big), args.repositories)
        filled = time.perf_counter() - t
        t = time.perf_counter()
        weights = measure(server, paths, args.runs)
        measured = time.perf_counter() - t
    finally:
        server.stop()
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True)
    load_after = os.getloadavg()
    header = (
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} at the start and {load_after[0]:.1f}"
        f" at the end; filling took {filled:.0f} s, measuring {measured:.0f} s ({args.runs} loads a page)."
    )
    table = render(weights, header)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
