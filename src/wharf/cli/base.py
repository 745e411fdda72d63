"""What every `wharf` command shares: the Typer app and its global options, the --data-dir and
--config options, reading the settings, opening an existing installation's database, and `main`.

A command that fails prints `error: ...` and `hint: ...` on stderr and exits non-zero; `main` turns
any exception a command lets through into those two lines (`--debug` or WHARF_DEBUG=1: the
traceback instead).

This module and the command modules import at their top only what `wharf --help` needs: the
settings (pydantic), SQLAlchemy, asyncio and the logging and metrics set-up are imported by the
commands that use them, so that help, and commands that need little, start in a fraction of the
time (tests/process/test_lazy_imports.py holds it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wharf import __version__
from wharf.core.errors import DomainError

if TYPE_CHECKING:
    from wharf.config import Settings
    from wharf.db.engine import Database


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


MetricsAddress = Annotated[
    str | None,
    typer.Option(
        "--metrics-address",
        metavar="HOST:PORT",
        help="Serve Prometheus metrics (job run times, GC) at http://HOST:PORT/metrics. [default: off]",
    ),
]


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


def check_log_format(log_format: str) -> None:
    if log_format not in ("text", "json"):
        raise CliError(f"--log-format must be text or json, not {log_format!r}", "leave it out for text", 2)


def settings_from(data_dir: Path | None, config: Path | None) -> Settings:
    from sqlalchemy.exc import SQLAlchemyError

    from wharf.config import ConfigError, load_settings
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


def safe_uri(uri: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it (it may hold a password)
        return "(DB_URI, not a valid URL)"


def database(data_dir: Path | None, config: Path | None) -> Database:
    return existing_database(settings_from(data_dir, config))


def existing_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database of an installation `wharf serve` or `wharf migrate` made, brought up to date
    (`migrate`). Never a new one: in the wrong directory that would be an empty registry that has
    none of the users asked about."""
    from wharf.db.engine import Database
    from wharf.db.revision import HEAD

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
        revision = _schema_revision(db)
        if revision is None:
            database = (
                safe_uri(settings.DB_URI) if settings.DB_URI else settings.DATA_DIR.resolve() / "wharf.db"
            )
            raise CliError(f"the database {database} has no Wharf tables", looked_where)
        if migrate and revision != HEAD:
            from wharf.db.migrate import upgrade

            upgrade(db)
    except BaseException:
        db.dispose()
        raise
    return db


def _schema_revision(db: Database) -> str | None:
    """The revision the database is at; None when it has no Wharf tables. Read without Alembic:
    only a database behind this code's migrations needs it, and importing it (with the migration
    scripts' Mako) costs every command a few tenths of a second of CPU."""
    from sqlalchemy import inspect

    from wharf.db import revision

    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
    return db.run_read(revision.current)


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
    from sqlalchemy.exc import SQLAlchemyError

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
    from sqlalchemy.exc import DBAPIError

    cause = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
