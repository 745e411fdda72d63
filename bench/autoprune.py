"""Auto-prune at scale (issue 17): the time to apply a policy to a repository of 100,000 tags.

    python -m bench.autoprune [--tags N] [--keep N] [--batch N] [--pg-uri URI]

In-process, on the embedded defaults (SQLite in a temporary directory) unless --pg-uri names a
PostgreSQL server (a database of its own is created and dropped). One small image is stored
through core, then the tags are bulk INSERTed as tag rows on it (pushing 100,000 manifests would
measure pushes, not pruning), a millisecond apart. The repository gets the policy `number_of_tags`
--keep and an immutability policy on every hundredth tag; then the autoprune run
(services/retention.apply) is timed: the plan (one read of every alive tag), and the deletions in
batches of --batch, each one a tag_changes.prune_all (a usage-log entry a tag, time machine) as
the job does.
Prints the figures; nothing asserts. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

from wharf.config import load_settings
from wharf.core import audit, autoprune, blobs, manifests, repositories, retention_policies
from wharf.core.bootstrap import ensure_admin
from wharf.db.engine import Database, Db
from wharf.db.migrate import upgrade
from wharf.db.models import Tag
from wharf.oci.digest import Digest
from wharf.runtime import Runtime
from wharf.services import retention

BY = audit.Actor(None, "admin")
BATCH_INSERT = 5_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _image(db: Db, repo: repositories.RepositoryRecord) -> int:
    config, layer = b'{"bench":"autoprune"}', b"layer"
    for data in (config, layer):
        blob = blobs.register(db, str(Digest.of(data)), len(data))
        blobs.link(db, repo.id, blob.id)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return manifests.put(db, repo, str(Digest.of(body)), body, manifests.parse(body, OCI_MANIFEST), None).id


def _fill(db: Db, repo_id: int, manifest_id: int, count: int) -> None:
    start = int(time.time() * 1000) - count - 1000
    for first in range(0, count, BATCH_INSERT):
        rows = [
            {
                "repository_id": repo_id,
                "name": f"t-{i:06d}",
                "manifest_id": manifest_id,
                "lifetime_start_ms": start + i,
                "lifetime_end_ms": None,
                "hidden": False,
                "reversion": False,
                "immutable": i % 100 == 0,  # as the immutability policy below would have frozen them
            }
            for i in range(first, min(first + BATCH_INSERT, count))
        ]
        db.execute(insert(Tag), rows)


def _alive(db: Db, repo_id: int) -> int:
    return int(
        db.execute(
            select(func.count())
            .select_from(Tag)
            .where(Tag.repository_id == repo_id, Tag.lifetime_end_ms.is_(None))
        ).scalar_one()
    )


async def run(uri: str | None, data_dir: Path, tags: int, keep: int, batch: int) -> None:
    overrides: dict[str, object] = {
        "DATA_DIR": data_dir,
        "FEATURE_AUTO_PRUNE": True,
        "FEATURE_IMMUTABLE_TAGS": True,
        "AUTOPRUNE_BATCH_SIZE": batch,
    }
    if uri:
        overrides["DB_URI"] = uri
    settings = load_settings(None, overrides, environ={})
    setup = Database(settings.db_uri, pool_size=1)
    upgrade(setup)
    setup.run_write(ensure_admin, "bench-password")
    repo = setup.run_write(repositories.create, "admin", "pruned", visibility="private", actor=BY)
    manifest_id = setup.run_write(_image, repo)
    t = time.perf_counter()
    setup.run_write(_fill, repo.id, manifest_id, tags)
    print(f"{tags:,} tags inserted in {time.perf_counter() - t:.1f} s", flush=True)
    scope = retention_policies.Scope.of(repo)
    setup.run_write(
        retention_policies.create_freeze, scope, retention_policies.check_freeze("^t-[0-9]{4}00$", True), BY
    )
    setup.run_write(
        retention_policies.create_prune,
        scope,
        retention_policies.check_prune("number_of_tags", keep, None, True),
        BY,
    )
    setup.dispose()

    rt = Runtime.create(settings)
    try:
        t = time.perf_counter()
        plan = await rt.db.read(autoprune.plan_for, repo, None, True, int(time.time() * 1000))
        planned = time.perf_counter() - t
        print(
            f"plan: {len(plan.prune):,} to delete, {len(plan.freeze):,} to freeze, in {planned:.2f} s",
            flush=True,
        )
        t = time.perf_counter()
        report = await retention.apply(rt, repository_id=repo.id)
        took = time.perf_counter() - t
        left = await rt.db.read(_alive, repo.id)
    finally:
        await rt.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"apply: {report.pruned:,} tags deleted in {took:.1f} s ({report.pruned / took:,.0f} tags/s, "
        f"batches of {batch}); {left:,} alive after; peak RSS {rss:.0f} MiB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.autoprune", description=__doc__)
    ap.add_argument("--tags", type=int, default=100_000)
    ap.add_argument("--keep", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument(
        "--pg-uri", default=None, help="a PostgreSQL server (postgresql://user:pw@host:port/postgres)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-autoprune-") as root:
        uri = None
        if args.pg_uri:
            name = f"wharf_autoprune_{uuid.uuid4().hex[:8]}"
            admin = create_engine(
                args.pg_uri.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            uri = args.pg_uri.rsplit("/", 1)[0] + f"/{name}"
        data_dir = Path(root) / "data"
        data_dir.mkdir()
        try:
            asyncio.run(run(uri, data_dir, args.tags, args.keep, args.batch))
        finally:
            if args.pg_uri:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
