"""`wharf secscan`: the vulnerability data (update from OSV), re-indexing, and the index status."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wharf.cli.base import (
    CliError,
    ConfigFile,
    DataDir,
    app,
    database,
    existing_database,
    settings_from,
)

if TYPE_CHECKING:
    from wharf.config import Settings
    from wharf.db.engine import Database

secscan_cli = typer.Typer(
    help="Security scanning: the vulnerability data and the state of the indexes "
    "(docs/security-scanning.md).",
    short_help="Vulnerability data and index status.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


app.add_typer(secscan_cli, name="secscan")


@secscan_cli.command("update", short_help="Import OSV vulnerability data and re-match stored images.")
def secscan_update(
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="PATH",
            help="A zip of OSV JSON records (as osv.dev publishes) or a directory. "
            "[default: each entry of SECURITY_SCANNER_VULN_SOURCES, URLs downloaded]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON result per source.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Import the OSV records that changed since the last import (by their `modified`), then
    re-match the stored indexes they concern, without reading any layer. For air-gapped sites:
    copy osv.dev's per-ecosystem zips (e.g. Debian/all.zip) and import each with --from."""
    import asyncio

    from wharf.services import secscan_update as updater

    settings = settings_from(data_dir, config)
    if source is None and not settings.SECURITY_SCANNER_VULN_SOURCES:
        raise CliError(
            "no OSV data to import",
            "give --from PATH, or list URLs, zips or directories in SECURITY_SCANNER_VULN_SOURCES",
            2,
        )
    db = existing_database(settings)
    results: list[tuple[str, updater.UpdateResult | None]] = []
    try:
        if source is not None:
            try:
                total = updater.count_records(source)
            except updater.SourceError as e:
                raise CliError(
                    str(e), "give --from a zip of OSV JSON records or a directory of them", 2
                ) from None
            results.append(
                (
                    str(source),
                    updater.update(db, source, origin=settings.public_origin)
                    if as_json
                    else _update_with_bar(db, source, total, settings.public_origin),
                )
            )
        else:
            results = asyncio.run(_update_sources(db, settings))
    finally:
        db.dispose()
    if as_json:
        typer.echo(
            json.dumps([r.as_dict() if r else {"source": s, "unchanged": True} for s, r in results], indent=2)
        )
        return
    for name, r in results:
        if r is None:
            typer.echo(f"{name}: unchanged since the last update")
            continue
        typer.echo(
            f"{name}: {r.read} records read: {r.imported} imported, {r.unchanged} unchanged, "
            f"{r.skipped} skipped; {r.packages_rematched} packages re-matched, {r.matches} matches"
        )


async def _update_sources(db: Database, settings: Settings) -> list[tuple[str, Any]]:
    from wharf.services import secscan_update as updater

    results = []
    for entry in settings.SECURITY_SCANNER_VULN_SOURCES:
        try:
            results.append((entry, await updater.update_source(db, settings, entry)))
        except updater.SourceFailure as e:
            raise CliError(
                f"{entry}: {e}",
                "check the entry in SECURITY_SCANNER_VULN_SOURCES (the sources before it were imported)",
            ) from None
    return results


def _update_with_bar(db: Database, path: Path, total: int, origin: str) -> Any:
    from wharf.services import secscan_update as updater

    with typer.progressbar(length=total, label=f"importing {path.name}", file=sys.stderr) as bar:
        done = [0]

        def _advance(read: int) -> None:
            bar.update(read - done[0])
            done[0] = read

        return updater.update(db, path, _advance, origin=origin)


@secscan_cli.command("rescan", short_help="Index a repository's images (or one of them) again.")
def secscan_rescan(
    target: Annotated[
        str, typer.Argument(metavar="REPO[@DIGEST]", help="namespace/name, or namespace/name@sha256:...")
    ],
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Drop the indexes of a repository's manifests (or of one) and queue them again: the workers
    of `wharf serve` or `wharf worker` index them. Until then the API answers `queued`."""
    from wharf.core import repositories
    from wharf.core import secscan as store

    name, _, digest = target.partition("@")
    namespace, _, repo_name = name.partition("/")
    if not namespace or not repo_name:
        raise CliError(
            f"{target!r} is not namespace/name[@digest]", "e.g. acme/app or acme/app@sha256:...", 2
        )
    db = database(data_dir, config)
    try:
        repo = db.run_read(repositories.get, namespace, repo_name)
        if repo is None:
            raise CliError(f"no repository named {name!r}", "names are case-sensitive")
        queued = db.run_write(store.rescan, repo.id, digest or None)
    finally:
        db.dispose()
    if digest and not queued:
        raise CliError(f"{name} holds no manifest {digest}", "give the digest of a manifest it holds")
    typer.echo(f"queued {len(queued)} manifests of {name} for indexing")


@secscan_cli.command("status", short_help="Show how many images are indexed and how much data there is.")
def secscan_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Show the indexes by status, the index jobs waiting, the vulnerability data and the last
    update of each source."""
    import dataclasses

    from wharf.core import secscan as store

    db = database(data_dir, config)
    try:
        status = db.run_read(store.status)
        sources = db.run_read(store.sources)
    finally:
        db.dispose()
    if as_json:
        answer = dataclasses.asdict(status) | {"sources": [dataclasses.asdict(x) for x in sources]}
        typer.echo(json.dumps(answer, indent=2))
        return
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(status.indexes.items())) or "none"
    typer.echo(f"indexes: {by_status}; {status.waiting} queued")
    newest = status.newest_modified or "-"
    typer.echo(
        f"vulnerabilities: {status.vulnerabilities} records (newest modified {newest}), "
        f"{status.matches} matches"
    )
    for x in sources:
        success = _when(x.last_success_ms) if x.last_success_ms else "never"
        error = f"; last attempt {_when(x.last_attempt_ms)} failed: {x.last_error}" if x.last_error else ""
        typer.echo(f"source {x.url}: last success {success} ({x.imported} records imported){error}")


def _when(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
