"""`wharf serve` and `wharf migrate`: start-up (migrations, signing key, first superuser), the server
processes (uvicorn, rebuilt from the environment in each by `asgi_factory`) and their exit."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from wharf import __version__
from wharf.cli.base import (
    CliError,
    ConfigFile,
    DataDir,
    LogFormat,
    LogLevel,
    app,
    check_log_format,
    safe_uri,
    settings_from,
)
from wharf.core.errors import DomainError

if TYPE_CHECKING:
    from wharf.config import Settings


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


T = TypeVar("T")


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
    from wharf.memory import tune_malloc
    from wharf.observe import configure_logging
    from wharf.serving import HttpToolsProtocol

    tune_malloc()
    settings = settings_from(data_dir, config)
    check_log_format(log_format)
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
            "wharf.cli.serve:asgi_factory",
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
        where += f", database {safe_uri(settings.DB_URI)}"
    return where


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
    from wharf.config import load_settings
    from wharf.memory import tune_malloc
    from wharf.observe import configure_logging

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

    settings = settings_from(data_dir, config)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
    finally:
        db.dispose()
    typer.echo(f"database is up to date ({_where(settings)})")
