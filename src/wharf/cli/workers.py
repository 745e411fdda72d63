"""`wharf worker` and `wharf builder`: the processes that run queued jobs, background work and
Dockerfile builds, until a signal stops them."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING

from wharf.cli.base import (
    CliError,
    ConfigFile,
    DataDir,
    LogFormat,
    LogLevel,
    MetricsAddress,
    app,
    check_log_format,
    existing_database,
    settings_from,
)

if TYPE_CHECKING:
    from wharf.config import Settings


def _serve_metrics(address: str | None, log: logging.Logger) -> None:
    if address is None:
        return
    from wharf import metrics

    try:
        server = metrics.serve_in_background(address)
    except (ValueError, OSError) as e:
        raise CliError(
            f"cannot serve metrics at {address}: {e}", "give a free HOST:PORT, e.g. 127.0.0.1:9102"
        ) from None
    host, port = server.server_address[:2]
    log.info("metrics at http://%s:%d/metrics", host, port)


@app.command(short_help="Run background jobs (GC, notifications...) until stopped.")
def worker(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    log_level: LogLevel = "info",
    log_format: LogFormat = "text",
    metrics_address: MetricsAddress = None,
) -> None:
    """Run background jobs (garbage collection, cleanup, notifications...) until stopped. SIGTERM or
    SIGINT stops it gracefully: no further job is claimed, the running one gets
    WORKER_SHUTDOWN_GRACE_S seconds to finish (then it is cancelled and released for another
    worker), and the worker exits 0. A second signal exits at once."""
    import asyncio

    from wharf.jobs.runner import run_until_stopped
    from wharf.memory import tune_malloc
    from wharf.observe import configure_logging
    from wharf.runtime import Runtime

    tune_malloc()
    settings = settings_from(data_dir, config)
    check_log_format(log_format)
    existing_database(settings, migrate=False).dispose()
    configure_logging(log_level, log_format)
    log = logging.getLogger("wharf.worker")
    _serve_metrics(metrics_address, log)
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
    metrics_address: MetricsAddress = None,
) -> None:
    """Run the Dockerfile builds users request (requestRepoBuild), at most BUILDER_CONCURRENCY at
    once, each with buildah in a working directory of its own under BUILDER_STORAGE_DIR. It needs
    buildah and skopeo on PATH, the database of the server, and the server's /v2 at
    BUILDER_REGISTRY (or the public origin). Builds have no network (BUILD_NETWORK none, the
    default: `unshare --net`, so the builder runs as root) unless BUILD_NETWORK is host. SIGTERM
    or SIGINT stops it like `wharf worker`: the running builds get WORKER_SHUTDOWN_GRACE_S
    seconds, then they are killed and left to run out their lease (the next claim marks them
    internalerror and runs them again, BUILD_MAX_ATTEMPTS)."""
    import asyncio

    from wharf.jobs.builder import (
        BUILDER_HANDLERS,
        CLAIM_POLL_S,
        builder_root,
        registry_origin,
        remove_leftovers,
    )
    from wharf.jobs.runner import run_until_stopped
    from wharf.memory import tune_malloc
    from wharf.observe import configure_logging
    from wharf.runtime import Runtime

    tune_malloc()
    settings = settings_from(data_dir, config)
    check_log_format(log_format)
    _check_builds_can_run(settings)
    existing_database(settings, migrate=False).dispose()
    configure_logging(log_level, log_format)
    log = logging.getLogger("wharf.builder")
    _serve_metrics(metrics_address, log)
    if shutil.which("setpriv") is None:
        log.warning(
            "setpriv (util-linux) is not on PATH: a build's buildah outlives this builder if it is killed"
        )
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
            "builder started: %d at once, pushing to %s, working in %s, build network %s",
            settings.BUILDER_CONCURRENCY,
            registry_origin(rt),
            builder_root(rt),
            settings.BUILD_NETWORK,
        )
        try:
            if leftovers := await remove_leftovers(rt):
                log.info("removed %d working directories of builds a killed builder left", leftovers)
            finished = await run_until_stopped(
                rt,
                stop,
                grace_s,
                poll_interval_s=CLAIM_POLL_S,
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


def _check_builds_can_run(settings: Settings) -> None:
    """Refuse to start a builder that could run no build: fail here, not in every build."""
    from wharf.jobs.builder import missing_tools, network_isolation_problem

    missing = missing_tools()
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not found on PATH",
            "install buildah and skopeo (apt-get install buildah skopeo)",
        )
    if not settings.FEATURE_BUILD_SUPPORT:
        raise CliError("FEATURE_BUILD_SUPPORT is off", "set FEATURE_BUILD_SUPPORT: true to run builds")
    problem = network_isolation_problem() if settings.BUILD_NETWORK == "none" else None
    if problem:
        # Builds without network are the default promise.
        raise CliError(
            f"builds cannot run without network (BUILD_NETWORK: none): {problem}",
            "run the builder as root, or set BUILD_NETWORK: host to give builds the host's network",
        )
