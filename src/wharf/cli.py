"""The `wharf` command line: serve, worker, migrate, admin.

A command that fails prints `error: ...` and `hint: ...` on stderr and exits non-zero; `main` turns
any exception a command lets through into those two lines (`--debug` or WHARF_DEBUG=1: the
traceback instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from wharf import __version__
from wharf.config import ConfigError, Settings, load_settings
from wharf.core.errors import DomainError
from wharf.memory import tune_malloc
from wharf.observe import configure_logging

if TYPE_CHECKING:
    from wharf.db.engine import Database

T = TypeVar("T")

# Plain click help: paragraphs rewrapped to the terminal, metavars in place of <bool>, and no rich
# markup to swallow "[default: ...]". Tracebacks are main's business (see its docstring).
app = typer.Typer(
    name="wharf",
    help="Wharf, a container image registry. Run `wharf serve` to start it on embedded defaults.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Directory for the SQLite database, blobs and keys. [default: ./data]",
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="YAML config file with Quay's key names (DB_URI, SUPER_USERS, FEATURE_...).",
    ),
]

LogLevel = Annotated[str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")]
LogFormat = Annotated[
    str,
    typer.Option(metavar="FORMAT", help="text, or json: one JSON object per line, with the request id."),
]


class CliError(Exception):
    """A failure the command can explain: `error: message`, then `hint: hint`, exit status `code`."""

    def __init__(self, message: str, hint: str | None = None, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def _check_log_format(log_format: str) -> None:
    if log_format not in ("text", "json"):
        raise CliError(f"--log-format must be text or json, not {log_format!r}", "leave it out for text", 2)


def _settings(data_dir: Path | None, config: Path | None) -> Settings:
    from wharf.db.engine import normalize_uri

    overrides = {"DATA_DIR": data_dir} if data_dir is not None else {}
    fix = "correct it in the --config file, or in its WHARF_<KEY> environment variable"
    try:
        settings = load_settings(config, overrides)
    except ConfigError as e:
        raise CliError(str(e), fix, 2) from None
    try:
        normalize_uri(settings.db_uri)
    except (ValueError, SQLAlchemyError) as e:  # a scheme we have no driver for, or not a URL at all
        raise CliError(f"DB_URI: {e}", f"{fix}; docs/configuration.md shows the forms it takes", 2) from None
    key = settings.REGISTRY_SIGNING_KEY_PATH
    if key is not None and not key.is_file():
        raise CliError(
            f"REGISTRY_SIGNING_KEY_PATH {key} is not a file",
            "create the key once (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE) "
            "and give every node the same file",
            2,
        )
    return settings


def _prepare(settings: Settings) -> str | None:
    """Migrate the database, make (or check) the registry signing key and create the first
    superuser; returns a generated admin password. The server loads the key on its first token, so
    a key it cannot use is refused here, at start-up, and a new one is on disk once it is up."""
    from wharf.core.bootstrap import ensure_admin
    from wharf.db.engine import Database
    from wharf.db.migrate import upgrade
    from wharf.runtime import token_service

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    token_service(settings)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        if settings.FEATURE_USER_INITIALIZE:
            return None  # the first user comes from POST /api/v1/user/initialize
        return db.run_write(ensure_admin, os.environ.get("WHARF_ADMIN_PASSWORD"), settings.LIBRARY_NAMESPACE)
    finally:
        db.dispose()


def _in_child(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) in a forked child process, its exception re-raised here: what only start-up needs
    (Alembic and the migration scripts, the first argon2 hash) then never stays in the server's
    memory. Where fork is unavailable it runs here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return fn(*args)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as child:
        return child.submit(fn, *args).result()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wharf {__version__}")
        raise typer.Exit()


_debug = False


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, print the traceback (as WHARF_DEBUG=1 does).")
    ] = False,
) -> None:
    """Wharf, a container image registry."""
    global _debug
    _debug = debug


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on: 0.0.0.0 is every interface, 127.0.0.1 this machine only.",
        ),
    ] = "0.0.0.0",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port to listen on.")] = 8080,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Server processes; 0 means one per CPU core. One process already spreads blob I/O, "
            "hashing and database writes over threads; more raise the manifest request rate.",
        ),
    ] = 1,
    no_workers: Annotated[
        bool,
        typer.Option("--no-workers", help="Serve requests only; run background jobs with `wharf worker`."),
    ] = False,
    log_level: LogLevel = "info",
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

    tune_malloc()
    settings = _settings(data_dir, config)
    _check_log_format(log_format)
    configure_logging(log_level, log_format, access=access_log)
    _create_first_superuser(settings)
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _pass_to_server_processes(settings, listen, config, no_workers, log_level, log_format, access_log)
    processes = workers or os.cpu_count() or 1
    _announce(settings, host, listen)
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
            ws="none",  # no WebSocket endpoint: do not load a WebSocket implementation (~3 MiB)
            timeout_keep_alive=settings.HTTP_KEEP_ALIVE_TIMEOUT_S,
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            metrics.remove_multiprocess_dir(metrics_dir)


def _create_first_superuser(settings: Settings) -> None:
    """Migrate, and on the first start create `admin` (printing a generated password once)."""
    from wharf.auth.tokens import TokenError

    try:
        generated = _in_child(_prepare, settings)
    except DomainError as e:
        raise CliError(
            f"cannot create the first superuser: {e}", "set WHARF_ADMIN_PASSWORD to a valid password", 2
        ) from None
    except TokenError as e:
        raise CliError(
            f"the registry signing key is unusable: {e}",
            "point REGISTRY_SIGNING_KEY_PATH at an EC P-256 or RSA private key in PEM",
            2,
        ) from None
    if generated:
        typer.echo(
            f"Created superuser 'admin' with password: {generated}\n(shown once; change it after login)"
        )


def _pass_to_server_processes(
    settings: Settings,
    listen: str,
    config: Path | None,
    no_workers: bool,
    log_level: str,
    log_format: str,
    access_log: bool,
) -> None:
    """Server processes rebuild the settings from the environment (see asgi_factory)."""
    os.environ["WHARF_DATA_DIR"] = str(settings.DATA_DIR.resolve())
    os.environ["WHARF_LISTEN_ADDRESS"] = listen
    if config is not None:
        os.environ["WHARF_CONFIG"] = str(config.resolve())
    if no_workers:
        os.environ["WHARF_WORKERS_IN_PROCESS"] = "false"
    os.environ["WHARF_LOG_LEVEL"] = log_level
    os.environ["WHARF_LOG_FORMAT"] = log_format
    os.environ["WHARF_ACCESS_LOG"] = "1" if access_log else ""


def _announce(settings: Settings, host: str, listen: str) -> None:
    typer.echo(f"Wharf {__version__} listening on http://{listen}{_interfaces(host)}; {_where(settings)}")
    if not settings.SERVER_HOSTNAME:
        public = settings.model_copy(update={"LISTEN_ADDRESS": listen}).public_origin
        typer.echo(
            f"SERVER_HOSTNAME is not set: links and the token realm say {public}; "
            "set it to the name clients use"
        )


def _interfaces(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return " (every network interface; --host 127.0.0.1 for this machine only)"
    return ""


def _where(settings: Settings) -> str:
    """Where the data is: the data directory, and the database when it is elsewhere."""
    where = f"data directory {settings.DATA_DIR.resolve()}"
    if settings.DB_URI:
        where += f", database {_safe_uri(settings.DB_URI)}"
    return where


def _safe_uri(uri: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it (it may hold a password)
        return "(DB_URI, not a valid URL)"


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
    tune_malloc()
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
    typer.echo(f"database is up to date ({_where(settings)})")


@app.command(short_help="Run background jobs (GC, notifications...) until stopped.")
def worker(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    log_format: LogFormat = "text",
) -> None:
    """Run background jobs (garbage collection, cleanup, notifications...) until stopped. SIGTERM or
    SIGINT stops it gracefully: no further job is claimed, the running one gets
    WORKER_SHUTDOWN_GRACE_S seconds to finish (then it is cancelled and released for another
    worker), and the worker exits 0. A second signal exits at once."""
    from wharf.jobs.runner import run_until_stopped
    from wharf.runtime import Runtime

    tune_malloc()
    settings = _settings(data_dir, config)
    _check_log_format(log_format)
    _existing_database(settings, migrate=False).dispose()
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


@app.command(short_help="Run Dockerfile builds with buildah until stopped.")
def builder(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    log_format: LogFormat = "text",
) -> None:
    """Run the Dockerfile builds users request (requestRepoBuild), at most BUILDER_CONCURRENCY at
    once, each with buildah in a working directory of its own under BUILDER_STORAGE_DIR. It needs
    buildah and skopeo on PATH, the database of the server, and the server's /v2 at
    BUILDER_REGISTRY (or the public origin). SIGTERM or SIGINT stops it like `wharf worker`: the
    running builds get WORKER_SHUTDOWN_GRACE_S seconds, then they are killed and left to run out
    their lease (the next claim marks them internalerror and runs them again, BUILD_MAX_ATTEMPTS)."""
    from wharf.jobs.builder import (
        BUILDER_HANDLERS,
        builder_root,
        missing_tools,
        registry_origin,
        remove_leftovers,
    )
    from wharf.jobs.runner import run_until_stopped
    from wharf.runtime import Runtime

    tune_malloc()
    settings = _settings(data_dir, config)
    _check_log_format(log_format)
    missing = missing_tools()
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not found on PATH",
            "install buildah and skopeo (apt-get install buildah skopeo)",
        )
    if not settings.FEATURE_BUILD_SUPPORT:
        raise CliError("FEATURE_BUILD_SUPPORT is off", "set FEATURE_BUILD_SUPPORT: true to run builds")
    _existing_database(settings, migrate=False).dispose()
    configure_logging(log_level, log_format)
    log = logging.getLogger("wharf.builder")
    grace_s = settings.WORKER_SHUTDOWN_GRACE_S

    async def _run() -> None:
        stop = asyncio.Event()

        def _on_signal(signum: int) -> None:
            name = signal.Signals(signum).name
            if stop.is_set():
                log.warning("received %s again: exiting now", name)
                sys.stderr.flush()
                os._exit(128 + signum)
            log.info(
                "received %s: claiming no more builds; the running ones have %d s to finish", name, grace_s
            )
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, signum)
        rt = Runtime.create(settings)
        log.info(
            "builder started: %d at once, pushing to %s, working in %s",
            settings.BUILDER_CONCURRENCY,
            registry_origin(rt),
            builder_root(rt),
        )
        try:
            if leftovers := await remove_leftovers(rt):
                log.info("removed %d working directories of builds a killed builder left", leftovers)
            finished = await run_until_stopped(
                rt,
                stop,
                grace_s,
                handlers=BUILDER_HANDLERS,
                concurrency=settings.BUILDER_CONCURRENCY,
                lease_ms=settings.BUILDER_LEASE_S * 1000,
            )
        finally:
            await rt.close()
        if finished:
            log.info("builder stopped")
        else:
            log.warning("builder stopped: running builds outlived WORKER_SHUTDOWN_GRACE_S and were killed")

    try:
        asyncio.run(_run())
    except KeyboardInterrupt:
        sys.exit(130)


admin = typer.Typer(
    help="Manage an installation: accounts, tokens, garbage collection. Give the same --data-dir and "
    "--config as `wharf serve` (or run in the directory it runs in).",
    short_help="Manage accounts, tokens, garbage collection.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(admin, name="admin")


def _database(data_dir: Path | None, config: Path | None) -> Database:
    return _existing_database(_settings(data_dir, config))


def _existing_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database of an installation `wharf serve` or `wharf migrate` made, brought up to date
    (`migrate`). Never a new one: in the wrong directory that would be an empty registry that has
    none of the users asked about."""
    from wharf.db.engine import Database
    from wharf.db.migrate import current_revision, upgrade

    looked_where = (
        "pass the --data-dir and --config that `wharf serve` uses, or run where it runs; "
        "`wharf migrate` makes a new installation"
    )
    if not settings.DB_URI:
        path = (settings.DATA_DIR / "wharf.db").resolve()
        if not path.is_file():
            raise CliError(
                f"no Wharf database in {settings.DATA_DIR.resolve()} (looked for {path})", looked_where
            )
    db = Database(settings.db_uri, pool_size=1)
    try:
        with db.engine.connect() as conn:
            revision = current_revision(conn)
        if revision is None:
            database = (
                _safe_uri(settings.DB_URI) if settings.DB_URI else settings.DATA_DIR.resolve() / "wharf.db"
            )
            raise CliError(f"the database {database} has no Wharf tables", looked_where)
        if migrate:
            upgrade(db)
    except BaseException:
        db.dispose()
        raise
    return db


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
    from wharf.core.errors import DomainError

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CliError(
            "no password on standard input",
            'give it one line, e.g. `echo "$PW" | wharf admin create-user NAME`',
            2,
        )
    db = _database(data_dir, config)
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
    db = _database(data_dir, config)
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
    """Delete a user, their namespace and its repositories."""
    from wharf.core import accounts

    if not yes and not typer.confirm(f"Delete user {name} and all their repositories?"):
        raise typer.Exit(1)
    db = _database(data_dir, config)
    try:
        account = db.run_read(accounts.get_by_name, name)
        if account is None or account.kind != "user":
            raise _no_user(name)
        db.run_write(accounts.delete_user, account)
    finally:
        db.dispose()
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
    from wharf.jobs import gc
    from wharf.runtime import Runtime

    settings = _settings(data_dir, config)
    _existing_database(settings).dispose()  # migrations first
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

    db = _database(data_dir, config)
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
    from wharf.services import secscan_update as updater

    settings = _settings(data_dir, config)
    if source is None and not settings.SECURITY_SCANNER_VULN_SOURCES:
        raise CliError(
            "no OSV data to import",
            "give --from PATH, or list URLs, zips or directories in SECURITY_SCANNER_VULN_SOURCES",
            2,
        )
    db = _existing_database(settings)
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
    db = _database(data_dir, config)
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

    db = _database(data_dir, config)
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


def main() -> None:
    """The `wharf` command. An exception a command lets through becomes two lines on stderr, what
    failed and what to do about it, and exit status 1 (CliError: its own); with `--debug` or
    WHARF_DEBUG=1, anything but a CliError shows its traceback instead."""
    try:
        app()
    except Exception as e:  # each one is explained below, or shown with --debug
        debug = _debug or os.environ.get("WHARF_DEBUG", "") not in ("", "0")
        if debug and not isinstance(e, CliError):  # a CliError is the whole story already
            raise
        message, hint, code = _explain(e)
        typer.echo(f"error: {message}", err=True)
        typer.echo(f"hint: {hint}", err=True)
        sys.exit(code)


_DEBUG_HINT = "run with --debug (wharf --debug COMMAND ...) for the traceback"


def _explain(e: Exception) -> tuple[str, str, int]:
    """One line that says what failed, one that says what to do, and the exit status."""
    if isinstance(e, CliError):
        return e.message, e.hint or _DEBUG_HINT, e.code
    if _is_connection_error(e):
        return (
            f"cannot connect to the database: {_first_line(e)}",
            "check DB_URI (--config or WHARF_DB_URI) and that the database server is running and reachable",
            1,
        )
    if isinstance(e, SQLAlchemyError):
        return f"database error: {_first_line(e)}", _DEBUG_HINT, 1
    if isinstance(e, OSError):
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
        return what, "check --data-dir (and STORAGE_PATH) and the permissions of that directory", 1
    if isinstance(e, DomainError):
        return str(e), _DEBUG_HINT, 1
    return f"unexpected {type(e).__name__}: {_first_line(e)}", f"{_DEBUG_HINT}, and report it", 1


def _is_connection_error(e: Exception) -> bool:
    from sqlalchemy.exc import OperationalError

    # psycopg's "connection failed: ..." and SQLite's "unable to open database file" happen
    # before any statement: the database is missing or unreachable, not the schema wrong.
    return isinstance(e, OperationalError) and (e.statement is None or "unable to open database" in str(e))


def _first_line(e: BaseException) -> str:
    """The driver's message, without SQLAlchemy's wrapper, statement and "Background on this
    error" link: the first line, and a second when it is the driver's own hint."""
    cause = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
