"""`wharf admin`: accounts, tokens, garbage collection and the quota check, run against the database
of an existing installation."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

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
from wharf.core.errors import DomainError

admin = typer.Typer(
    help="Manage an installation: accounts, tokens, garbage collection. Give the same --data-dir and "
    "--config as `wharf serve` (or run in the directory it runs in).",
    short_help="Manage accounts, tokens, garbage collection.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


app.add_typer(admin, name="admin")


def _no_user(name: str) -> CliError:
    return CliError(
        f"no user named {name!r}",
        "names are case-sensitive; is this the --data-dir and --config of the server you mean?",
    )


@admin.command("create-user")
def admin_create_user(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new user's name.")],
    email: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Their e-mail address.")] = None,
    superuser: Annotated[bool, typer.Option("--superuser", help="Make them a superuser.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create a user. The password is read from standard input (one line)."""
    from wharf.core import accounts

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CliError(
            "no password on standard input",
            'give it one line, e.g. `echo "$PW" | wharf admin create-user NAME`',
            2,
        )
    db = database(data_dir, config)
    try:
        db.run_write(accounts.create_user, name, password, email, superuser=superuser)
    except DomainError as e:
        raise CliError(str(e), "no user was created") from None
    finally:
        db.dispose()
    typer.echo(f"created user {name}" + (" (superuser)" if superuser else ""))


@admin.command("token", short_help="Print a new OAuth access token for /api/v1.")
def admin_token(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user the token acts for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", metavar="SCOPE", help="An OAuth scope (repeatable); all scopes by default."),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Print a new OAuth access token for /api/v1 (`Authorization: Bearer TOKEN`)."""
    from wharf.core import accounts, tokens
    from wharf.core import scopes as oauth_scopes

    try:
        granted = oauth_scopes.parse(scope) if scope else oauth_scopes.ALL
    except oauth_scopes.ScopeError as e:
        raise CliError(str(e), "give --scope once per scope, or leave it out for every scope", 2) from None
    db = database(data_dir, config)
    try:
        account = db.run_read(accounts.get_by_name, name)
        if account is None or account.kind != "user":
            raise _no_user(name)
        token = db.run_write(tokens.mint, account, granted)
    finally:
        db.dispose()
    typer.echo(token)


@admin.command("delete-user")
def admin_delete_user(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user to delete, with their repositories.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Delete a user, their namespace and its repositories (whose build triggers first remove
    their deploy keys and webhooks from GitHub, GitLab or Bitbucket)."""
    import asyncio

    from wharf.core import accounts
    from wharf.runtime import Runtime
    from wharf.services import accounts as account_service

    if not yes and not typer.confirm(f"Delete user {name} and all their repositories?"):
        raise typer.Exit(1)
    settings = settings_from(data_dir, config)
    existing_database(settings).dispose()  # migrations first

    async def _run() -> None:
        rt = Runtime.create(settings)
        try:
            account = await rt.db.read(accounts.get_by_name, name)
            if account is None or account.kind != "user":
                raise _no_user(name)
            await account_service.delete_user(rt, account, None)
        finally:
            await rt.close()

    asyncio.run(_run())
    typer.echo(f"deleted user {name}")


@admin.command("gc", short_help="Collect garbage now.")
def admin_gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be deleted and how much it frees.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Also sweep storage for files no database row owns, older than GC_ORPHAN_GRACE_S "
            "(lists every blob: slow on a large bucket).",
        ),
    ] = False,
    grace_period: Annotated[
        int | None,
        typer.Option(
            "--grace-period",
            min=0,
            metavar="SECONDS",
            help="Seconds instead of GC_GRACE_PERIOD_S for this run. Below 60 only when nothing is "
            "being pushed: the layers of a push whose manifest has not come yet are collected.",
        ),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Collect garbage now: expired tags, unreachable manifests, unreferenced blobs."""
    import asyncio

    from wharf.jobs import gc
    from wharf.runtime import Runtime

    settings = settings_from(data_dir, config)
    existing_database(settings).dispose()  # migrations first
    if not as_json:
        logging.basicConfig(level="INFO", format="%(message)s", stream=sys.stderr)

    async def _run() -> dict[str, Any]:
        rt = Runtime.create(settings)
        try:
            report = await gc.collect(
                rt,
                dry_run=dry_run,
                orphans=orphans,
                grace_s=grace_period,
                progress=lambda m: typer.echo(m, err=True),
            )
        finally:
            await rt.close()
        return report.as_dict()

    report = asyncio.run(_run())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb}: {report['tags_expired']} expired tags, "
        f"{report['tag_lifetimes_removed']} old tag lifetimes, {report['manifests_removed']} manifests, "
        f"{report['links_removed']} blob links, "
        f"{report['blobs_removed']} blobs ({_size(report['bytes_freed'])} freed)"
    )
    if report["orphans"] is not None:
        found = report["orphans"]
        typer.echo(
            f"{verb} from storage: {found['blobs_removed']} orphan blobs, "
            f"{found['uploads_removed']} orphan uploads, {found['staged_removed']} staged objects "
            f"({_size(found['bytes_freed'])} freed), "
            f"{found['interrupted_writes_removed']} interrupted writes"
        )


@admin.command(
    "seal-proxy-passwords", short_help="Seal the mirror proxy passwords an older Wharf stored in clear."
)
def admin_seal_proxy_passwords(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the configurations that hold one in clear.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Seal, with the installation's secret key, the passwords of the proxy URLs
    (external_registry_config.proxy) of repository and organization mirrors that were stored
    before Wharf sealed them (they are sealed anyway at their configuration's next change). Safe
    while the registry serves. Exit status: 0 when none is left in clear (sealed now, or none
    found), 1 when --dry-run found some, 2 when the key is not the one that sealed the stored
    secrets."""
    from wharf.core import proxy_passwords
    from wharf.core.secretbox import SecretBox

    settings = settings_from(data_dir, config)
    key_file = settings.DATA_DIR / "keys" / "database-secret.key"
    if not settings.DATABASE_SECRET_KEY and not key_file.is_file():
        # from_settings would make a new key, and the server could not open what it sealed
        raise CliError(
            f"no secret key: DATABASE_SECRET_KEY is not set and {key_file} does not exist",
            "give the --config and --data-dir of `wharf serve`: passwords are sealed with its key",
            2,
        )
    box = SecretBox.from_settings(settings.DATABASE_SECRET_KEY, key_file)
    db = existing_database(settings)
    try:
        if db.run_read(proxy_passwords.opens_with, box) is False:
            raise CliError(
                "this key does not open the secrets stored already (mirror credentials)",
                "give the --config and --data-dir of `wharf serve`, whose DATABASE_SECRET_KEY sealed them",
                2,
            )
        found = db.run_read(proxy_passwords.in_clear_stored)
        sealed = [f for f in found if not dry_run and db.run_write(proxy_passwords.seal_stored, box, f)]
    finally:
        db.dispose()
    if as_json:
        report = {"dry_run": dry_run, "in_clear": [f.as_dict() for f in found], "sealed": len(sealed)}
        typer.echo(json.dumps(report, indent=2))
    else:
        for f in found:
            fields = ", ".join(f.fields)
            if dry_run:
                typer.echo(f"{f.kind} {f.name}: {fields} in clear")
            elif f in sealed:
                typer.echo(f"{f.kind} {f.name}: sealed {fields}")
            else:
                typer.echo(f"{f.kind} {f.name}: changed meanwhile (that change sealed {fields})")
        if not found:
            typer.echo("every mirror proxy password is sealed")
    if found and dry_run:
        raise typer.Exit(1)


quota_cli = typer.Typer(
    help="Storage quotas: check the stored sizes of repositories and namespaces "
    "(docs/quotas-and-retention.md).",
    short_help="Check and correct the stored repository and namespace sizes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


admin.add_typer(quota_cli, name="quota")


@quota_cli.command("verify", short_help="Recompute every size and report (or --fix) what differs.")
def quota_verify(
    fix: Annotated[
        bool, typer.Option("--fix", help="Rewrite the sizes that differ from the recomputation.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Recompute the size of every repository and namespace from its manifests and compare it
    with the stored one. Exit status: 0 when nothing differs (or --fix corrected it), 1 when
    something differs and --fix was not given. Safe while the registry serves: each namespace
    is checked in one transaction, and --fix holds the locks pushes and GC take."""
    from wharf.core import quota_verify as verify

    db = database(data_dir, config)
    try:
        found: list[dict[str, Any]] = []
        for namespace_id, name in db.run_read(verify.namespace_ids):
            drifts = db.run_write(verify.check_namespace, namespace_id, name, fix=fix)
            found += [d.as_dict() for d in drifts]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"fixed": fix, "differences": found}, indent=2))
    else:
        for d in found:
            refs = " (reference counts differ)" if d["references_differ"] else ""
            typer.echo(
                f"{d['kind']} {d['name']}: stored {d['stored_bytes']} B, actual {d['actual_bytes']} B{refs}"
            )
        if not found:
            typer.echo("every stored size equals its recomputation")
        elif fix:
            typer.echo(f"corrected {len(found)}")
    if found and not fix:
        raise typer.Exit(1)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
