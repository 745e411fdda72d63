"""A forward HTTP proxy on loopback for the mirrors' proxy tests: plain requests in absolute form
(`GET http://host:port/path`) are forwarded, `CONNECT host:port` opens a tunnel. It counts what it
was asked, so a test can tell that traffic went through it (or did not). It runs on a loop of its
own in a thread: the code under test may block its own loop. With `tls` (a server context, see
`tls_for_loopback`) clients speak TLS to it (an `https://` proxy); with `login` it wants Basic
`Proxy-Authorization` and answers 407 without it.

Each forwarded request gets a connection of its own to the origin, closed after the answer
(`Connection: close` both ways), which keeps the proxy a few lines long."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_HEAD_LIMIT = 64 * 1024
_HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "proxy-authorization"})


@dataclass
class HttpProxy:
    """`with HttpProxy() as proxy:` then `proxy.url`; `proxy.requests` counts "GET host:port"
    (forwarded) and "CONNECT host:port" (tunnels)."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: ssl.SSLContext | None = None
    login: tuple[str, str] | None = None
    requests: Counter[str] = field(default_factory=Counter)
    proxy_authorizations: list[str] = field(default_factory=list)
    """Every Proxy-Authorization header received (a test checks what the client sent)."""
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for key, n in self.requests.items() if key.startswith(prefix))

    def __enter__(self) -> HttpProxy:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="http-proxy", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._loop is not None and self._thread is not None

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _note(self, key: str) -> None:
        with self._lock:
            self.requests[key] += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                return
            line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = line.split(" ", 2)
            if not self._admitted(header_lines):
                self._note(f"407 {method}")
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
                writer.write(b'Proxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n')
                await writer.drain()
                return
            if method == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._forward(method, target, version, header_lines, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    def _admitted(self, header_lines: list[str]) -> bool:
        given = [
            value.strip()
            for name, _, value in (h.partition(":") for h in header_lines)
            if name.strip().lower() == "proxy-authorization"
        ]
        with self._lock:
            self.proxy_authorizations.extend(given)
        if self.login is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.login).encode()).decode()
        return expected in given

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._note(f"CONNECT {target}")
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        header_lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        port = parts.port or 80
        self._note(f"{method} {parts.hostname}:{port}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = [h for h in header_lines if h and h.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        head = f"{method} {path} {version}\r\n" + "".join(f"{h}\r\n" for h in headers)
        head += "Connection: close\r\n\r\n"
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, port)
        up_writer.write(head.encode("latin-1"))
        await up_writer.drain()
        await _pipe_both(reader, writer, up_reader, up_writer)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            sink.close()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Until the origin is done: its answer ends the exchange (the client's side may stay open)."""
    upward = asyncio.ensure_future(_pipe(reader, up_writer))
    try:
        await _pipe(up_reader, writer)
    finally:
        upward.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upward


def tls_for_loopback(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A test CA (its certificate written to `directory`, for SSL_CERT_FILE: Wharf trusts it as
    an operator's system would) and a server context with a certificate it signed for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)

    def signed(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Proxy test CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=key is issuer_key, path_length=None), critical=True)
        )
        if key is not issuer_key:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_file, server_file = directory / "proxy-ca.pem", directory / "proxy-server.pem"
    ca_file.write_bytes(signed("Proxy test CA", ca_key, ca_key).public_bytes(serialization.Encoding.PEM))
    server_file.write_bytes(
        signed("127.0.0.1", key, ca_key).public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_file)
    return ca_file, context
