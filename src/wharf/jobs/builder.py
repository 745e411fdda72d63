"""Runs one build: what `wharf builder` does with each job of the builders' queue.

Each build gets a fresh working directory (removed afterwards) holding its input, its unpacked
context, and its own image storage (vfs) and client configuration, so builds share nothing. The
base images that live in this Wharf are copied in by skopeo with a registry token of the build
(pull as its pull robot or its requester); `buildah bud --isolation chroot` builds; skopeo pushes
each tag to this Wharf's /v2 with a token scoped to the target repository, so the push goes
through the normal path (permissions, quotas, notifications). Buildah's and skopeo's output goes
to the build log line by line.

A build past BUILD_TIMEOUT, or whose cancellation was asked, has its running command killed (its
whole process group) and finishes `error` or `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf.core import builds, user_files
from wharf.core.builds import BuildRecord, LogLine
from wharf.integrations import outbound
from wharf.jobs import build_attest, build_context, build_source
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services import build_triggers as trigger_service
from wharf.services import builds as build_service

log = logging.getLogger("wharf.builder")

_FLUSH_LINES = 50
_WATCH_S = 1.0
_MAX_LINE = 8192


class BuildStopped(Exception):
    """The build ends here, in `phase`, with `message` as its error."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase
        self.message = message


def builder_root(rt: Runtime) -> Path:
    return rt.settings.BUILDER_STORAGE_DIR or rt.settings.DATA_DIR / "builder"


def registry_origin(rt: Runtime) -> str:
    return (rt.settings.BUILDER_REGISTRY or rt.settings.public_origin).rstrip("/")


_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def base_images(dockerfile: str) -> list[str]:
    """The images a Dockerfile's FROM lines name, without earlier stages and `scratch`."""
    stages: set[str] = set()
    images: list[str] = []
    for line in dockerfile.splitlines():
        m = _FROM.match(line)
        if not m:
            continue
        image, alias = m.group(1), m.group(2)
        if image.lower() != "scratch" and image.lower() not in stages and image not in images:
            images.append(image)
        if alias:
            stages.add(alias.lower())
    return images


def local_repository(image: str, host: str) -> RepositoryName | None:
    """The repository of this Wharf an image reference names (host/ns/name[:tag|@digest])."""
    if not image.startswith(host + "/"):
        return None
    path = image[len(host) + 1 :].split("@", 1)[0]
    if ":" in path.rsplit("/", 1)[-1]:
        path = path.rsplit(":", 1)[0]
    try:
        return RepositoryName.parse(path)
    except ValueError:
        return None


def registry_host(image: str) -> str:
    """The registry (host[:port]) an image reference names, as Docker reads it: the first part
    when it looks like a host (a dot, a port, `localhost`), else Docker Hub's."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "registry-1.docker.io"


class _Run:
    """One build's run: its log buffer, the command running, the stop watcher."""

    def __init__(self, rt: Runtime, build: BuildRecord, work: Path, origin: str | None) -> None:
        self.rt = rt
        self.build = build
        self.work = work
        self.origin = origin
        self.pending: list[LogLine] = []
        self.flushing = asyncio.Lock()
        self.proc: asyncio.subprocess.Process | None = None
        self.stopped: BuildStopped | None = None
        self.deadline = time.monotonic() + rt.settings.BUILD_TIMEOUT
        self.secrets: list[str] = []
        parts = urlsplit(registry_origin(rt))
        self.host = parts.netloc
        self.insecure = parts.scheme == "http"

    # --- the log ---------------------------------------------------------------------------------

    async def flush(self) -> None:
        # One flush at a time: each numbers its lines after the last written, in order.
        async with self.flushing:
            if self.pending:
                lines, self.pending = self.pending, []
                await self.rt.db.write(builds.append_logs, self.build.id, lines)

    async def line(self, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        for secret in self.secrets:
            message = message.replace(secret, "***")
        self.pending.append((kind, message[:_MAX_LINE], data))
        if len(self.pending) >= _FLUSH_LINES:
            await self.flush()

    async def phase(self, phase: str) -> None:
        self.check()
        await self.flush()
        if not await self.rt.db.write(builds.set_phase, self.build.id, phase, self.build.attempts):
            raise BuildStopped(builds.CANCELLED, "the build was finished elsewhere (or run again)")

    # --- stopping --------------------------------------------------------------------------------

    def check(self) -> None:
        if self.stopped is not None:
            raise self.stopped

    async def watch(self) -> None:
        """Stop the build on its deadline or when its cancellation is asked; meanwhile, write
        what the running command printed, so that the log follows a long step."""
        while self.stopped is None:
            await asyncio.sleep(_WATCH_S)
            try:
                await self.flush()
                cancelled = await self.rt.db.read(builds.cancel_requested, self.build.id)
            except Exception:
                log.warning(
                    "build %s: could not write its log or read its state", self.build.uuid, exc_info=True
                )
                cancelled = False
            if time.monotonic() > self.deadline:
                timeout = self.rt.settings.BUILD_TIMEOUT
                self.stopped = BuildStopped(builds.ERROR, f"The build took longer than {timeout} seconds")
            elif cancelled:
                self.stopped = BuildStopped(builds.CANCELLED, "The build was cancelled")
        self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    # --- commands --------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "HOME")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "CONTAINERS_CONF": str(self.work / "containers.conf"),
                "CONTAINERS_REGISTRIES_CONF": str(self.work / "registries.conf"),
                "CONTAINERS_STORAGE_CONF": str(self.work / "storage.conf"),
                "REGISTRY_AUTH_FILE": str(self.work / "auth.json"),
                "BUILDAH_ISOLATION": "chroot",
                "TMPDIR": str(self.work / "tmp"),
            }
        )
        return env

    def configure(self) -> None:
        (self.work / "tmp").mkdir()
        (self.work / "containers.conf").write_text(f'[engine]\ntmp_dir = "{self.work}/libpod-tmp"\n')
        (self.work / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{self.work}/storage/root"\n'
            f'runroot = "{self.work}/storage/run"\n'
        )
        (self.work / "auth.json").write_text("{}\n")
        registries = "unqualified-search-registries = []\n"
        if self.insecure:
            registries += f'\n[[registry]]\nlocation = "{self.host}"\ninsecure = true\n'
        (self.work / "registries.conf").write_text(registries)

    async def run(self, *args: str, shown: str | None = None, env: dict[str, str] | None = None) -> None:
        """Run a command, its output into the log; BuildStopped(error) when it fails."""
        self.check()
        await self.line(builds.COMMAND_LOG, shown or " ".join(args))
        await self.flush()
        self.proc = await asyncio.create_subprocess_exec(
            *tethered(*args),
            env={**self.env(), **(env or {})},
            cwd=self.work,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches buildah's children
            limit=1024 * 1024,
        )
        assert self.proc.stdout is not None
        while True:
            try:
                raw = await self.proc.stdout.readline()
            except ValueError:  # a line over the limit: read what there is
                raw = await self.proc.stdout.read(_MAX_LINE)
            if not raw:
                break
            await self.line(builds.OUTPUT_LOG, raw.decode(errors="replace").rstrip("\n"))
        code = await self.proc.wait()
        self.proc = None
        await self.flush()
        self.check()
        if code != 0:
            name = " ".join((shown or " ".join(args)).split()[:2])
            raise BuildStopped(builds.ERROR, f"{name} exited with status {code}")

    # --- the steps -------------------------------------------------------------------------------

    async def fetch_input(self) -> Path:
        source = self.work / "input"
        if self.build.resource_key is not None:
            path = user_files.storage_path(self.build.resource_key)
            try:
                with source.open("wb") as out:
                    async for chunk in self.rt.store.read(path):
                        out.write(chunk)
            except FileNotFoundError:
                raise BuildStopped(builds.ERROR, "The uploaded build file is gone (it expired)") from None
            return source
        assert self.build.archive_url is not None
        await self.line(builds.COMMAND_LOG, f"fetching {self.build.archive_url}")
        try:
            await outbound.download(
                self.build.archive_url,
                self.rt.settings,
                source,
                max_bytes=self.rt.settings.USERFILES_MAX_SIZE,
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise BuildStopped(builds.ERROR, f"Could not fetch the archive: {e}") from None
        return source

    async def clone(self) -> tuple[Path, Path]:
        """A trigger's build: the commit, cloned with the trigger's deploy key."""
        assert self.build.trigger_metadata is not None
        root = self.work / "context"
        s = self.rt.settings
        key, pinned = await trigger_service.ssh_access_of(self.rt, self.build)
        try:
            await build_source.fetch(self.run, s, self.work, root, self.build.trigger_metadata, key, pinned)
            await asyncio.to_thread(
                build_source.check_tree, root, s.BUILD_ARCHIVE_MAX_BYTES, s.BUILD_ARCHIVE_MAX_ENTRIES
            )
            return build_context.dockerfile_in(root, self.build.dockerfile_path, self.build.context)
        except (build_source.SourceRefused, build_context.UnpackRefused) as e:
            raise BuildStopped(builds.ERROR, str(e)) from None

    async def unpack(self) -> tuple[Path, Path]:
        await self.phase(builds.UNPACKING)
        if self.build.trigger_metadata and self.build.trigger_metadata.get("git_url"):
            return await self.clone()
        source = await self.fetch_input()
        root = self.work / "context"
        root.mkdir()
        s = self.rt.settings
        try:
            kind = await asyncio.to_thread(
                build_context.unpack,
                source,
                root,
                self.build.dockerfile_path,
                max_bytes=s.BUILD_ARCHIVE_MAX_BYTES,
                max_entries=s.BUILD_ARCHIVE_MAX_ENTRIES,
            )
            await self.line(builds.OUTPUT_LOG, f"unpacked the build input ({kind})")
            return build_context.dockerfile_in(root, self.build.dockerfile_path, self.build.context)
        except build_context.UnpackRefused as e:
            raise BuildStopped(builds.ERROR, str(e)) from None

    async def token(self, sources: list[RepositoryName]) -> str:
        rt, build = self.rt, self.build
        requester, robot_id = await rt.db.read(builds.acting_accounts, build.id)
        pusher = await build_service.identity_of(rt, requester)
        if pusher is None:
            raise BuildStopped(builds.ERROR, "The user who requested the build can no longer push")
        puller = await build_service.identity_of(rt, robot_id) if robot_id else pusher
        target = RepositoryName(build.namespace, build.repository)
        token = await build_service.registry_token(rt, pusher, target, puller or pusher, sources, build)
        self.secrets.append(token)
        return token

    async def pull(self, dockerfile: Path) -> None:
        await self.phase(builds.PULLING)
        text = await asyncio.to_thread(dockerfile.read_text, errors="replace")
        images = base_images(text)
        local = [(image, local_repository(image, self.host)) for image in images]
        wanted = [repo for _, repo in local if repo is not None]
        token = await self.token(wanted) if wanted else ""
        tls = f"--src-tls-verify={'false' if self.insecure else 'true'}"
        for image, repo in local:
            shown = f"skopeo copy docker://{image} containers-storage:{image}"
            if repo is not None:
                args: tuple[str, ...] = ("skopeo", "copy", tls, "--src-registry-token", token)
            elif "$" in image:
                # FROM $ARG: only buildah knows the value (and, without network, cannot pull it).
                await self.line(builds.OUTPUT_LOG, f"{image} names a build argument: buildah resolves it")
                continue
            else:
                # Another registry's image, anonymously: skopeo pulls it, outside the build's
                # network namespace, so that buildah needs no network (BUILD_NETWORK none); a
                # registry on an internal address only if SSRF_ALLOWED_HOSTS allows it.
                await self.check_registry(image)
                args = ("skopeo", "copy")
            await self.run(*args, f"docker://{image}", f"containers-storage:{image}", shown=shown)

    async def check_registry(self, image: str) -> None:
        host = registry_host(image)
        try:
            await outbound.check_url(f"https://{host}/", self.rt.settings)
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise BuildStopped(builds.ERROR, f"Cannot pull {image}: {e}") from None

    async def build_image(self, dockerfile: Path, context: Path) -> str:
        await self.phase(builds.BUILDING)
        local = f"localhost/wharf-build/{self.build.uuid}:latest"
        bud = ("buildah", "bud", "--isolation", "chroot", "--pull=false", "-f", str(dockerfile), "-t", local)
        network = self.rt.settings.BUILD_NETWORK
        if network == "none":
            await self.line(builds.OUTPUT_LOG, "RUN steps have no network (BUILD_NETWORK: none)")
        await self.run(*isolated(network, *bud, str(context)), shown=" ".join((*bud, str(context))))
        return local

    async def push(self, local: str) -> str:
        await self.phase(builds.PUSHING)
        token = await self.token([])
        tls = f"--dest-tls-verify={'false' if self.insecure else 'true'}"
        digest = ""
        for tag in self.build.docker_tags:
            ref = f"{self.host}/{self.build.full_name}:{tag}"
            digest_file = self.work / "digest"
            args = ("skopeo", "copy", tls, "--dest-registry-token", token, "--digestfile", str(digest_file))
            shown = f"skopeo copy containers-storage:{local} docker://{ref}"
            await self.run(*args, f"containers-storage:{local}", f"docker://{ref}", shown=shown)
            digest = digest_file.read_text().strip()
        return digest


async def run_build(rt: Runtime, body: dict[str, Any]) -> None:
    """The job of the builders' queue: claim the build, run it, finish it in its terminal phase."""
    origin = body.get("origin")
    build = await rt.db.write(builds.start, int(body["build_id"]), origin, rt.settings.BUILD_MAX_ATTEMPTS)
    if build is None:
        return
    root = builder_root(rt) / "work"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"build-{build.uuid}-", dir=root))
    run = _Run(rt, build, work, origin)
    watcher = asyncio.create_task(run.watch(), name=f"wharf-build-watch-{build.uuid}")
    phase, error, digest = builds.COMPLETE, None, None
    try:
        run.configure()
        dockerfile, context = await run.unpack()
        await run.pull(dockerfile)
        local = await run.build_image(dockerfile, context)
        digest = await run.push(local)
        # Beyond Quay: the SBOM and the signed provenance, as referrers of what was pushed.
        text = await asyncio.to_thread(dockerfile.read_text, errors="replace")
        images = [(image, local_repository(image, run.host)) for image in base_images(text)]
        for kind, message, data in await build_attest.attest(rt, build, digest, images, work):
            await run.line(kind, message, data)
    except BuildStopped as e:
        phase, error = e.phase, e.message
    except asyncio.CancelledError:
        # The builder is stopping: the build is left to its lease (the next claim finishes it).
        run.kill()
        raise
    except Exception as e:
        log.exception("build %s failed inside the builder", build.uuid)
        phase, error = builds.INTERNAL_ERROR, f"The builder failed: {type(e).__name__}"
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        run.kill()
        await asyncio.to_thread(_remove, work)
    if error:
        await run.line(builds.ERROR_LOG, error)
    await run.flush()
    await rt.db.write(
        builds.finish,
        build.id,
        phase,
        error=error,
        manifest_digest=digest,
        origin=origin,
        attempt=build.attempts,  # not a later run's, if this one lost its lease
    )
    log.info("build %s of %s finished: %s", build.uuid, build.full_name, phase)


_UUID_IN_NAME = re.compile(r"^build-([0-9a-f-]{36})-")


async def remove_leftovers(rt: Runtime) -> int:
    """Remove the working directories that builders killed mid-build left behind (SIGKILL gives
    them no time to clean up), once their build has finished for good: one whose build will run
    again may be in use by another builder sharing BUILDER_STORAGE_DIR. How many went."""
    root = builder_root(rt) / "work"
    if not root.is_dir():
        return 0
    removed = 0
    for work in root.iterdir():
        found = _UUID_IN_NAME.match(work.name)
        if found is None:
            continue
        build = await rt.db.read(builds.get, found.group(1))
        if build is None or build.terminal:
            await asyncio.to_thread(_remove, work)
            removed += 1
    return removed


def _remove(work: Path) -> None:
    def _writable_then_retry(func: Any, path: str, _exc: Any) -> None:
        # vfs layers keep read-only directories: open them up and try again.
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
            parent = os.path.dirname(path)
            os.chmod(parent, 0o700)
            func(path)

    shutil.rmtree(work, onerror=_writable_then_retry)


BUILDER_HANDLERS = {builds.QUEUE: run_build}
"""What `wharf builder` claims: builds only (and `wharf serve` / `wharf worker` never claim them)."""

CLAIM_POLL_S = 0.5
"""How often an idle builder looks for a build to claim. With the workers' 2 s, that wait was
Wharf's largest fixed cost of a build (1 s on average, against tens of milliseconds for its
own steps); a claim that finds nothing is one short indexed query, so builders look 4 times as
often."""


def isolated(network: str, *command: str) -> tuple[str, ...]:
    """`command` as it runs for BUILD_NETWORK `network`. With `none`, in a network namespace of
    its own (`unshare --net`: buildah's `--network none` is refused with `--isolation chroot`),
    whose loopback is brought up so that a RUN step may still talk to itself; it holds no other
    interface, so neither the builder's host, its internal networks nor the internet answer."""
    if network != "none":
        return command
    ip = shutil.which("ip")
    if ip is None:  # loopback stays down: still no network, only less for the build itself
        return ("unshare", "--net", "--", *command)
    # the command's own words are sh's arguments, never parsed by it
    script = f'{shlex.quote(ip)} link set lo up && exec "$@"'
    return ("unshare", "--net", "--", "sh", "-c", script, "wharf-build", *command)


# Run by `setpriv --pdeathsig TERM`, so the kernel sends it SIGTERM when the builder dies,
# SIGKILL included: it then kills its whole process group (the command and its children, in a
# group of their own that a kill of the builder's group does not reach). It checks that its parent
# is still the builder ($1), else it was orphaned before the death signal was set.
_TETHER = 'trap "kill -KILL 0" TERM; [ "$PPID" = "$1" ] || exit 137; shift; "$@" & wait $!'


def tethered(*command: str) -> tuple[str, ...]:
    """`command` as the builder runs it: killed (with its process group) when the builder dies.
    PR_SET_PDEATHSIG fires when the thread that forked exits: the event loop's, which is the
    builder's main thread. Without setpriv (util-linux) the command runs as it is, and outlives a
    killed builder until it ends (the builder warns at start)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return command
    builder = str(os.getpid())
    return (setpriv, "--pdeathsig", "TERM", "--", "sh", "-c", _TETHER, "wharf-step", builder, *command)


def missing_tools() -> list[str]:
    """The programs a builder needs that are not on PATH."""
    return [tool for tool in ("buildah", "skopeo") if shutil.which(tool) is None]


def network_isolation_problem() -> str | None:
    """Why builds cannot get a network namespace of their own here (BUILD_NETWORK none needs
    `unshare --net`, that is root or CAP_SYS_ADMIN), or None when they can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not on PATH"
    try:
        done = subprocess.run(
            ["unshare", "--net", "--", "true"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare --net failed: {e}"
    if done.returncode != 0:
        return f"unshare --net failed: {done.stderr.strip() or done.returncode}"
    return None
