"""Squashed image download: an image flattened into one layer, as a `docker load`-able tar.

The layers are read twice. The first pass reads only tar headers (decompressing as it goes) and
decides which entries of which layer survive, applying whiteouts (`.wh.name`, and `.wh..wh..opq`
for opaque directories) from the top layer down; that also yields the exact size of the flat
layer, which its tar header needs up front. The second pass streams the surviving entries out,
so memory stays flat whatever the image size. The result is written to a cache beside the
blobs as it streams, and served from there next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from wharf.oci.digest import Digest
from wharf.storage.base import BlobStore, blob_path

BLOCK = 512
CHUNK = 1024 * 1024
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
LAYER_NAME = "layer.tar"
SUPPORTED_LAYERS = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
)


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class SquashError(Exception):
    """The image cannot be squashed (an unsupported layer type, a corrupt layer)."""


def cache_path(manifest_digest: str) -> str:
    digest = Digest.parse(manifest_digest)
    return f"squashed/{digest.algorithm}-{digest.encoded}.tar"


STAGING_PREFIX = "squashed/staging-"


def staging_path() -> str:
    """Where a squashed download is written while it streams, before it moves to its cache path."""
    return f"{STAGING_PREFIX}{uuid.uuid4().hex}"


def cached_digest(path: str) -> str | None:
    """The manifest digest a cache file belongs to, or None for anything else (staging files)."""
    name = path.rsplit("/", 1)[-1]
    algorithm, sep, rest = name.removesuffix(".tar").partition("-")
    return f"{algorithm}:{rest}" if sep and name.endswith(".tar") and algorithm != "staging" else None


def _clean(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _ancestors(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


@dataclass
class Plan:
    """Which entries survive: per layer (bottom first), the ordinals of its kept members."""

    kept: list[set[int]]
    size: int
    """Bytes of the flat layer tar."""
    hardlinks: list[tarfile.TarInfo] = field(default_factory=list)
    """Written last, once their targets exist."""


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def plan(layers_top_down: list[IO[bytes]]) -> Plan:
    """Decide the survivors. `layers_top_down` are readable layer streams, topmost first."""
    seen: set[str] = set()
    deleted: set[str] = set()
    opaque: set[str] = set()
    kept_top_down: list[set[int]] = []
    size = 2 * BLOCK  # the end-of-archive blocks
    hardlinks: list[tarfile.TarInfo] = []
    for stream in layers_top_down:
        kept: set[int] = set()
        layer_deleted: set[str] = set()
        layer_opaque: set[str] = set()
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for ordinal, member in enumerate(tar):
                    path = _clean(member.name)
                    base = path.rsplit("/", 1)[-1]
                    parent = path.rsplit("/", 1)[0] if "/" in path else ""
                    if base == OPAQUE:
                        layer_opaque.add(parent)
                        continue
                    if base.startswith(WHITEOUT):
                        layer_deleted.add(f"{parent}/{base[len(WHITEOUT) :]}".lstrip("/"))
                        continue
                    if not path or path in seen or path in deleted:
                        continue
                    if any(a in deleted for a in _ancestors(path)) or any(
                        a in opaque for a in _ancestors(path)
                    ):
                        continue
                    seen.add(path)
                    if not member.isdir():
                        layer_deleted.add(path)  # what lower layers have under this path is replaced
                    if member.islnk():
                        link = tarfile.TarInfo(path)
                        link.type, link.linkname = tarfile.LNKTYPE, _clean(member.linkname)
                        link.mode, link.uid, link.gid, link.mtime = (
                            member.mode,
                            member.uid,
                            member.gid,
                            member.mtime,
                        )
                        link.uname, link.gname = member.uname, member.gname
                        hardlinks.append(link)
                        size += len(_header(link))
                        continue
                    kept.add(ordinal)
                    member.name = path
                    size += len(_header(member)) + (_padded(member.size) if member.isreg() else 0)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise SquashError(f"a layer could not be read as a tar archive: {e}") from None
        deleted |= layer_deleted
        opaque |= layer_opaque
        kept_top_down.append(kept)
    return Plan(kept=list(reversed(kept_top_down)), size=size, hardlinks=hardlinks)


def write_layer(layers_bottom_up: list[IO[bytes]], flat: Plan, out: Sink) -> None:
    """Stream the surviving entries, bottom layer first, then the hard links, then the end blocks."""
    for stream, kept in zip(layers_bottom_up, flat.kept, strict=True):
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for ordinal, member in enumerate(tar):
                if ordinal not in kept:
                    continue
                member.name = _clean(member.name)
                out.write(_header(member))
                if member.isreg():
                    source = tar.extractfile(member)
                    assert source is not None
                    remaining = member.size
                    while remaining:
                        chunk = source.read(min(CHUNK, remaining))
                        if not chunk:
                            raise SquashError(f"layer entry {member.name} is truncated")
                        out.write(chunk)
                        remaining -= len(chunk)
                    out.write(b"\0" * (_padded(member.size) - member.size))
    for link in flat.hardlinks:
        out.write(_header(link))
    out.write(b"\0" * (2 * BLOCK))


def docker_archive_prefix(layer_id: str, layer_size: int) -> bytes:
    """The tar entries before the flat layer's bytes: its directory and its header."""
    buf = io.BytesIO()
    directory = tarfile.TarInfo(layer_id)
    directory.type, directory.mode = tarfile.DIRTYPE, 0o755
    buf.write(_header(directory))
    layer = tarfile.TarInfo(f"{layer_id}/{LAYER_NAME}")
    layer.size, layer.mode = layer_size, 0o644
    buf.write(_header(layer))
    return buf.getvalue()


def _file(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    return _header(info) + data + b"\0" * (_padded(len(data)) - len(data))


def docker_archive_suffix(
    layer_id: str, layer_size: int, diff_id: str, config: dict[str, Any], repo_tag: str
) -> bytes:
    """Everything after the flat layer: padding, the image configuration, manifest.json, the end."""
    config = dict(config)
    config["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
    config["history"] = [
        {"created": config.get("created", "1970-01-01T00:00:00Z"), "comment": "squashed by Wharf"}
    ]
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    repository, _, tag = repo_tag.rpartition(":")
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": [f"{layer_id}/{LAYER_NAME}"]}]
    parts = [
        b"\0" * (_padded(layer_size) - layer_size),
        _file(f"{layer_id}/VERSION", b"1.0"),
        _file(config_name, config_bytes),
        _file("manifest.json", json.dumps(manifest).encode()),
        _file("repositories", json.dumps({repository: {tag: layer_id}}).encode()),
        b"\0" * (2 * BLOCK),
    ]
    return b"".join(parts)


class _BridgeReader(io.RawIOBase):
    """A blocking file over an async storage read, for tarfile running in a worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, chunks: AsyncIterator[bytes]) -> None:
        self._loop, self._chunks, self._buffer = loop, chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buffer:
            future = asyncio.run_coroutine_threadsafe(_next(self._chunks), self._loop)
            chunk = future.result()
            if chunk is None:
                return 0
            self._buffer = chunk
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


class _QueueWriter(io.RawIOBase):
    """A blocking sink that hands chunks to the event loop, waiting while the consumer is behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]) -> None:
        self._loop, self._queue, self._pending = loop, queue, bytearray()
        self.hasher = hashlib.sha256()
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, b: Any, /) -> int:
        if self.cancelled.is_set():
            raise SquashError("the download was abandoned")
        data = bytes(b)
        self.hasher.update(data)
        self._pending += data
        if len(self._pending) >= CHUNK:
            self.flush_pending()
        return len(data)

    def flush_pending(self) -> None:
        if self._pending:
            chunk, self._pending = bytes(self._pending), bytearray()
            asyncio.run_coroutine_threadsafe(self._queue.put(chunk), self._loop).result()


async def stream_squashed(
    store: BlobStore, layers: list[tuple[str, str]], config: dict[str, Any], repo_tag: str, layer_id: str
) -> AsyncIterator[bytes]:
    """The docker-archive bytes of the image flattened to one layer. `layers` are (digest, media
    type), bottom first."""
    for _digest, media_type in layers:
        if media_type not in SUPPORTED_LAYERS:
            raise SquashError(f"layers of type {media_type} cannot be squashed")
    loop = asyncio.get_running_loop()

    def open_layers(top_down: bool) -> list[IO[bytes]]:
        order = reversed(layers) if top_down else iter(layers)
        return [
            io.BufferedReader(_BridgeReader(loop, aiter(store.read(blob_path(Digest.parse(d))))), CHUNK)
            for d, _ in order
        ]

    flat = await asyncio.to_thread(lambda: plan(open_layers(top_down=True)))
    yield docker_archive_prefix(layer_id, flat.size)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
    sink = _QueueWriter(loop, queue)

    def produce() -> None:
        try:
            write_layer(open_layers(top_down=False), flat, sink)
            sink.flush_pending()
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    worker = asyncio.create_task(asyncio.to_thread(produce))
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await worker
    finally:
        if not worker.done():
            sink.cancelled.set()
            while not worker.done():  # let the thread see the cancellation and stop
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)
            with contextlib.suppress(Exception):
                await worker
    yield docker_archive_suffix(layer_id, flat.size, f"sha256:{sink.hasher.hexdigest()}", config, repo_tag)
