"""An emulated WAN link for the bench: a TCP relay with a delay and a bandwidth cap per direction.

    python -m bench.link --link-mbit 200 --link-rtt-ms 20 --forward 4001:127.0.0.1:5000 [--forward ...]

Each `--forward LISTEN:HOST:PORT` listens on 127.0.0.1:LISTEN and relays every connection to
HOST:PORT. All forwards are one link: the bytes going towards the targets ("up") share one
bandwidth cap, the bytes coming back ("down") another, whatever connection they belong to, as a
registry's requests to Docker Hub and to auth.docker.io share the site's uplink.

How a chunk crosses (`Direction`): it leaves when the direction's token bucket has credit for it
(rate: --link-mbit; depth: --link-burst-kib, what may leave at once after a pause) and arrives
half the round trip later (--link-rtt-ms / 2). Chunks are scheduled, not slept on: a connection
keeps reading while its earlier chunks are in flight, up to --link-window-kib of them (the TCP
window a real link would have), and every connection's chunks are delivered in the order they
were read. A new connection's first byte also waits one round trip, the TCP handshake that the
loopback connection to the relay does not pay. What a real link adds and this one does not:
loss, slow start, jitter.

Prints `ready` once every port listens; runs until terminated. `start_link` runs it for a bench.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

KiB: Final = 1024
_READ_MIN: Final = 16 * KiB
_READ_MAX: Final = 256 * KiB
_READ_QUANTUM_S: Final = 0.002
"""A read takes at most what the link carries in this long (within the bounds above): a chunk
arrives whole, so a large one at a low rate would hold its first bytes back."""


@dataclass
class Direction:
    """One direction of the link: a token bucket (`rate` bytes/s, `depth` bytes) shared by every
    connection, and a one-way delay. The bucket may go into debt: a chunk larger than the credit
    leaves when the debt is paid back, and the chunks after it wait for that too (a queue at the
    link's rate)."""

    rate: float
    depth: float
    delay: float
    _credit: float = field(init=False)
    _at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._credit = self.depth

    def arrival(self, size: int, now: float, not_before: float = 0.0) -> float:
        """When a chunk of `size` bytes sent at `now` is at the other end."""
        now = max(now, not_before)
        if now > self._at:
            self._credit = min(self.depth, self._credit + (now - self._at) * self.rate)
            self._at = now
        self._credit -= size
        leaves = self._at + max(0.0, -self._credit) / self.rate
        return leaves + self.delay


class _Pipe:
    """One direction of one connection: chunks in flight, delivered in order at their arrival."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        direction: Direction,
        writer: asyncio.StreamWriter,
        window: int,
        not_before: float,
    ) -> None:
        self.loop = loop
        self.direction = direction
        self.writer = writer
        self.window = window
        self.not_before = not_before
        self.flight: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.in_flight = 0
        self.room = asyncio.Event()
        self.room.set()
        self.ended = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    def send(self, chunk: bytes | None) -> None:
        """Put a chunk on the link (None: the end of the stream, which crosses like a chunk)."""
        size = len(chunk) if chunk is not None else 0
        at = self.direction.arrival(size, self.loop.time(), self.not_before)
        self.flight.append((at, chunk))
        self.in_flight += size
        if self.in_flight >= self.window:
            self.room.clear()
        if self._timer is None:
            self._timer = self.loop.call_at(at, self._deliver)

    def _deliver(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self.flight and self.flight[0][0] <= now:
            _, chunk = self.flight.popleft()
            if chunk is None:
                self._end()
                return
            self.in_flight -= len(chunk)
            if not self.writer.is_closing():
                self.writer.write(chunk)
        if self.in_flight < self.window:
            self.room.set()
        if self.flight:
            self._timer = self.loop.call_at(self.flight[0][0], self._deliver)

    def _end(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof():
                self.writer.write_eof()
        self.ended.set()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flight.clear()
        self.room.set()
        self.ended.set()


@dataclass(frozen=True)
class Link:
    up: Direction
    down: Direction
    rtt: float
    window: int
    read_size: int


def make_link(mbit: float, rtt_ms: float, burst_kib: int = 16, window_kib: int = 4096) -> Link:
    rate = mbit * 1e6 / 8
    rtt = rtt_ms / 1000

    def direction() -> Direction:
        return Direction(rate, burst_kib * KiB, rtt / 2)

    read_size = int(min(_READ_MAX, max(_READ_MIN, rate * _READ_QUANTUM_S)))
    return Link(direction(), direction(), rtt, window_kib * KiB, read_size)


async def _pump(reader: asyncio.StreamReader, pipe: _Pipe, size: int) -> None:
    """Read from one side onto the link, keeping within its window and the far side's buffer."""
    while True:
        await pipe.room.wait()
        try:
            await pipe.writer.drain()
            chunk = await reader.read(size)
        except (ConnectionError, OSError):
            chunk = b""
        if not chunk:
            pipe.send(None)
            return
        pipe.send(chunk)


async def _relay(
    link: Link, target: tuple[str, int], client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    try:
        server_r, server_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()
        return
    # The client's first byte leaves after the handshake's round trip.
    up = _Pipe(loop, link.up, server_w, link.window, accepted + link.rtt)
    down = _Pipe(loop, link.down, client_w, link.window, 0.0)
    pumps = [
        asyncio.create_task(_pump(client_r, up, link.read_size)),
        asyncio.create_task(_pump(server_r, down, link.read_size)),
    ]
    try:
        # Both ends said they were done (and that crossed the link), or one side failed.
        await asyncio.gather(up.ended.wait(), down.ended.wait())
    finally:
        for task in pumps:
            task.cancel()
        up.cancel()
        down.cancel()
        for w in (server_w, client_w):
            w.close()


async def serve(link: Link, forwards: list[tuple[int, str, int]]) -> None:
    servers = [
        await asyncio.start_server(functools.partial(_relay, link, (host, port)), "127.0.0.1", listen)
        for listen, host, port in forwards
    ]
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


@dataclass
class LinkProcess:
    """A relay started by `start_link`: `ports` maps each target port to the port in front of it."""

    proc: subprocess.Popen[bytes]
    ports: dict[int, int]
    mbit: float
    rtt_ms: float

    def describe(self) -> str:
        return f"{self.mbit:g} Mbit/s each way, {self.rtt_ms:g} ms round trip"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_link(log: Path, mbit: float, rtt_ms: float, ports: dict[int, int]) -> LinkProcess:
    """The relay as a process of its own (its CPU is not the bench client's): `ports` maps a port to
    listen on (127.0.0.1) to the local port it relays to. Returns once it listens."""
    forwards = [f"--forward={listen}:127.0.0.1:{target}" for listen, target in ports.items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.link", f"--link-mbit={mbit}", f"--link-rtt-ms={rtt_ms}", *forwards],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise RuntimeError(f"the link relay did not start: {log.read_text()[-2000:]}")
    return LinkProcess(proc, {target: listen for listen, target in ports.items()}, mbit, rtt_ms)


def _forward(value: str) -> tuple[int, str, int]:
    listen, host, port = value.rsplit(":", 2)
    return int(listen), host, int(port)


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.link", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--link-mbit", type=float, required=True, help="bandwidth per direction, Mbit/s")
    ap.add_argument("--link-rtt-ms", type=float, required=True, help="round-trip time, ms")
    ap.add_argument("--link-burst-kib", type=int, default=16, help="the token bucket's depth (16 KiB)")
    ap.add_argument("--link-window-kib", type=int, default=4096, help="in flight per connection (4 MiB)")
    ap.add_argument("--forward", type=_forward, action="append", required=True, metavar="LISTEN:HOST:PORT")
    args = ap.parse_args()
    link = make_link(args.link_mbit, args.link_rtt_ms, args.link_burst_kib, args.link_window_kib)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(link, args.forward))
    else:
        uvloop.run(serve(link, args.forward))
    sys.exit(0)


if __name__ == "__main__":
    main()
