"""The `wharf` command line: serve, worker, migrate."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from wharf import __version__
from wharf.config import ConfigError, Settings, load_settings
from wharf.core.errors import DomainError
from wharf.observe import configure_logging

if TYPE_CHECKING:
    from wharf.db.engine import Database

app = typer.Typer(
    name="wharf",
    help="Wharf, a container image registry. Run `wharf serve` to start it on embedded defaults.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory for the SQLite database, blobs and keys. [default: ./data]"),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="YAML config file with Quay's key names (DB_URI, SUPER_USERS, FEATURE_...)."
    ),
]

LogFormat = Annotated[str, typer.Option(help="text, or json: one JSON object per line, with the request id.")]


def _check_log_format(log_format: str) -> None:
    if log_format not in ("text", "json"):
        typer.echo(f"error: --log-format must be text or json, not {log_format!r}", err=True)
        raise typer.Exit(2)


def _settings(data_dir: Path | None, config: Path | None) -> Settings:
    overrides = {"DATA_DIR": data_dir} if data_dir is not None else {}
    try:
        settings = load_settings(config, overrides)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    key = settings.REGISTRY_SIGNING_KEY_PATH
    if key is not None and not key.is_file():
        typer.echo(
            f"error: REGISTRY_SIGNING_KEY_PATH {key} is not a file. Create the key once (openssl genpkey "
            "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE) and give every node the same file.",
            err=True,
        )
        raise typer.Exit(2)
    return settings


def _prepare(settings: Settings) -> str | None:
    """Migrate the database and create the first superuser; returns a generated admin password."""
    from wharf.core.bootstrap import ensure_admin
    from wharf.db.engine import Database
    from wharf.db.migrate import upgrade

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        if settings.FEATURE_USER_INITIALIZE:
            return None  # the first user comes from POST /api/v1/user/initialize
        return db.run_write(ensure_admin, os.environ.get("WHARF_ADMIN_PASSWORD"), settings.LIBRARY_NAMESPACE)
    finally:
        db.dispose()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wharf {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Wharf, a container image registry."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes; 0 means one per CPU core. One process already spreads blob I/O, "
            "hashing and database writes over threads; more raise the manifest request rate."
        ),
    ] = 1,
    no_workers: Annotated[
        bool,
        typer.Option("--no-workers", help="Serve requests only; run background jobs with `wharf worker`."),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: LogFormat = "text",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log one line per request (at info level).")
    ] = False,
) -> None:
    """Start the registry (migrating the database first). The first start creates the superuser
    `admin` with the password in WHARF_ADMIN_PASSWORD, or prints a generated one."""
    import uvicorn

    from wharf import metrics
    from wharf.serving import HttpToolsProtocol

    settings = _settings(data_dir, config)
    _check_log_format(log_format)
    configure_logging(log_level, log_format, access=access_log)
    try:
        generated = _prepare(settings)
    except (OSError, ValueError, SQLAlchemyError) as e:
        typer.echo(f"error: cannot prepare the database: {e}", err=True)
        raise typer.Exit(1) from None
    except DomainError as e:
        typer.echo(f"error: cannot create the first superuser: {e} (check WHARF_ADMIN_PASSWORD)", err=True)
        raise typer.Exit(2) from None
    if generated:
        typer.echo(
            f"Created superuser 'admin' with password: {generated}\n(shown once; change it after login)"
        )
    # Server processes rebuild the settings from the environment (see asgi_factory).
    os.environ["WHARF_DATA_DIR"] = str(settings.DATA_DIR.resolve())
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    os.environ["WHARF_LISTEN_ADDRESS"] = listen
    if config is not None:
        os.environ["WHARF_CONFIG"] = str(config.resolve())
    if no_workers:
        os.environ["WHARF_WORKERS_IN_PROCESS"] = "false"
    os.environ["WHARF_LOG_LEVEL"] = log_level
    os.environ["WHARF_LOG_FORMAT"] = log_format
    os.environ["WHARF_ACCESS_LOG"] = "1" if access_log else ""
    processes = workers or os.cpu_count() or 1
    typer.echo(f"Wharf {__version__} listening on http://{host}:{port} (data in {settings.DATA_DIR})")
    if not settings.SERVER_HOSTNAME:
        public = settings.model_copy(update={"LISTEN_ADDRESS": listen}).public_origin
        typer.echo(
            f"SERVER_HOSTNAME is not set: links and the token realm say {public}; "
            "set it to the name clients use"
        )
    _exit_0_when_stopped_by_sigterm()
    # Several server processes add up their Prometheus metrics through files in one directory.
    # One process keeps them in memory, unless the operator set PROMETHEUS_MULTIPROC_DIR.
    metrics_dir = metrics.prepare_multiprocess_dir() if processes > 1 or metrics.multiprocess_dir() else None
    try:
        uvicorn.run(
            "wharf.cli:asgi_factory",
            factory=True,
            host=host,
            port=port,
            workers=processes if processes > 1 else None,
            log_level=log_level,
            log_config=None,  # our handlers (configure_logging), so uvicorn's lines are JSON too
            access_log=False,
            # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; TRUSTED_PROXIES
            # decides that (auth/address.py), so the client address is the connection's peer here.
            proxy_headers=False,
            loop="uvloop",
            http=HttpToolsProtocol,  # uvicorn's, with a deadline and a size limit on request headers
            timeout_keep_alive=settings.HTTP_KEEP_ALIVE_TIMEOUT_S,
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            metrics.remove_multiprocess_dir(metrics_dir)


def _exit_0_when_stopped_by_sigterm() -> None:
    """Once uvicorn has drained the requests in flight and shut the application down after a
    SIGTERM, it restores the handler it found and raises the signal again at its own process. With
    the default handler that kills the process, exit status 143, which orchestrators and process
    supervisors report as a failure, although the stop was clean and complete."""

    def stopped(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stopped)


def asgi_factory() -> object:
    """Builds the app inside each server process from what `serve` put in the environment."""
    from wharf import serving
    from wharf.app import build_app

    # Each server process configures its logging again: processes are spawned, not forked.
    env = os.environ
    configure_logging(
        env.get("WHARF_LOG_LEVEL", "info"),
        env.get("WHARF_LOG_FORMAT", "text"),
        access=bool(env.get("WHARF_ACCESS_LOG")),
    )
    settings = load_settings()
    serving.configure(settings)
    return build_app(settings)


@app.command()
def migrate(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Bring the database schema up to date and exit."""
    from wharf.db.engine import Database
    from wharf.db.migrate import upgrade

    settings = _settings(data_dir, config)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
    finally:
        db.dispose()
    typer.echo("database is up to date")


@app.command()
def worker(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: LogFormat = "text",
) -> None:
    """Run background jobs (garbage collection, cleanup, notifications...) until stopped. SIGTERM or
    SIGINT stops it gracefully: no further job is claimed, the running one gets
    WORKER_SHUTDOWN_GRACE_S seconds to finish (then it is cancelled and released for another
    worker), and the worker exits 0. A second signal exits at once."""
    from wharf.jobs.runner import run_until_stopped
    from wharf.runtime import Runtime

    settings = _settings(data_dir, config)
    _check_log_format(log_format)
    configure_logging(log_level, log_format)
    log = logging.getLogger("wharf.worker")
    grace_s = settings.WORKER_SHUTDOWN_GRACE_S
    if not settings.SERVER_HOSTNAME:
        log.warning(
            "SERVER_HOSTNAME is not set: links in notifications and e-mails say %s", settings.public_origin
        )

    async def _run() -> None:
        stop = asyncio.Event()

        def _on_signal(signum: int) -> None:
            name = signal.Signals(signum).name
            if stop.is_set():
                log.warning("received %s again: exiting now, without waiting for the running job", name)
                sys.stderr.flush()
                os._exit(128 + signum)
            log.info(
                "received %s: claiming no more jobs; the running one has %d s to finish "
                "(send %s again to exit at once)",
                name,
                grace_s,
                name,
            )
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, signum)
        rt = Runtime.create(settings)
        try:
            finished = await run_until_stopped(rt, stop, grace_s)
        finally:
            await rt.close()
        if finished:
            log.info("worker stopped")
        else:
            log.warning(
                "worker stopped: the running job outlived WORKER_SHUTDOWN_GRACE_S (%d s), "
                "was cancelled and released for another worker",
                grace_s,
            )

    try:
        asyncio.run(_run())
    except KeyboardInterrupt:  # before the handlers above are in place
        sys.exit(130)


admin = typer.Typer(
    help="Manage accounts and tokens on the same --data-dir/--config as `wharf serve`.", no_args_is_help=True
)
app.add_typer(admin, name="admin")


def _database(data_dir: Path | None, config: Path | None) -> Database:
    from wharf.db.engine import Database
    from wharf.db.migrate import upgrade

    settings = _settings(data_dir, config)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    upgrade(db)
    return db


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@admin.command("create-user")
def admin_create_user(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    email: Annotated[str | None, typer.Option(help="Their e-mail address.")] = None,
    superuser: Annotated[bool, typer.Option("--superuser", help="Make them a superuser.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create a user. The password is read from standard input (one line)."""
    from wharf.core import accounts
    from wharf.core.errors import DomainError

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise _fail(
            'give the password on standard input, e.g. `echo "$PW" | wharf admin create-user NAME`', 2
        )
    db = _database(data_dir, config)
    try:
        db.run_write(accounts.create_user, name, password, email, superuser=superuser)
    except DomainError as e:
        raise _fail(str(e)) from None
    finally:
        db.dispose()
    typer.echo(f"created user {name}" + (" (superuser)" if superuser else ""))


@admin.command("token")
def admin_token(
    name: Annotated[str, typer.Argument(help="The user the token acts for.")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="An OAuth scope (repeatable); all scopes by default.")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Print a new OAuth access token for /api/v1 (`Authorization: Bearer TOKEN`)."""
    from wharf.auth import scopes as oauth_scopes
    from wharf.core import accounts, tokens

    try:
        granted = oauth_scopes.parse(scope) if scope else oauth_scopes.ALL
    except oauth_scopes.ScopeError as e:
        raise _fail(str(e), 2) from None
    db = _database(data_dir, config)
    try:
        account = db.run_read(accounts.get_by_name, name)
        if account is None or account.kind != "user":
            raise _fail(f"no user named {name!r}")
        token = db.run_write(tokens.mint, account, granted)
    finally:
        db.dispose()
    typer.echo(token)


@admin.command("delete-user")
def admin_delete_user(
    name: Annotated[str, typer.Argument(help="The user to delete, with their repositories.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Delete a user, their namespace and its repositories."""
    from wharf.core import accounts

    if not yes and not typer.confirm(f"Delete user {name} and all their repositories?"):
        raise typer.Exit(1)
    db = _database(data_dir, config)
    try:
        account = db.run_read(accounts.get_by_name, name)
        if account is None or account.kind != "user":
            raise _fail(f"no user named {name!r}")
        db.run_write(accounts.delete_user, account)
    finally:
        db.dispose()
    typer.echo(f"deleted user {name}")


@admin.command("gc")
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
            help="Seconds instead of GC_GRACE_PERIOD_S for this run. Below 60 only when nothing is "
            "being pushed: the layers of a push whose manifest has not come yet are collected.",
        ),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Collect garbage now: expired tags, unreachable manifests, unreferenced blobs."""
    from wharf.jobs import gc
    from wharf.runtime import Runtime

    settings = _settings(data_dir, config)
    _database(data_dir, config).dispose()  # migrations first
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


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def main() -> None:
    app()
