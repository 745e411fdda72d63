"""Real local servers standing in for the services Wharf calls: an HTTP receiver (webhooks, Slack,
log-export callbacks) and an SMTP server (aiosmtpd). Both run in threads of the test process, so
they work with the in-process app and with a server process alike."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_cert: dict[str, Any] | None = None
    """The client certificate a TLS client presented (as ssl.getpeercert gives it)."""


@dataclass
class HttpReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status codes to answer, in order; once used up, 200.
    statuses: list[int] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Received]:
        """Block until at least `count` requests arrived (or fail after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
                self.condition.wait(left)
            return list(self.requests)


@contextmanager
def http_receiver(
    respond: Callable[[Received], int] | None = None,
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
) -> Iterator[HttpReceiver]:
    """An HTTP (or, with a server-side `tls` context, HTTPS) receiver on `host` (any 127/8
    address on Linux, so that two receivers can share a port number)."""
    receiver: HttpReceiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            assert receiver is not None
            length = int(self.headers.get("Content-Length") or 0)
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            got = Received(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
                peer,
            )
            with receiver.condition:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if respond is not None:
                    status = respond(got)
                receiver.requests.append(got)
                receiver.condition.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    receiver = HttpReceiver(f"{scheme}://{host}:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} e-mails, got {len(self.messages)}")
                self.condition.wait(left)
            return list(self.messages)

    def settings(self) -> dict[str, Any]:
        """Settings that make Wharf send its e-mail here."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_USE_TLS": False}


def _free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to see it is up).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox: Mailbox | None = None

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            assert mailbox is not None
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            with mailbox.condition:
                mailbox.messages.append(message)
                mailbox.condition.notify_all()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox = Mailbox("127.0.0.1", controller.port)
    try:
        yield mailbox
    finally:
        controller.stop()


def plain_text(message: EmailMessage) -> str:
    """The text/plain body of an e-mail the SMTP server received."""
    body = message.get_body(("plain",))
    assert body is not None, f"no text/plain part in {message}"
    return str(body.get_content())
