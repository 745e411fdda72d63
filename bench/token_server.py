"""A token server for CNCF distribution: the Docker registry token protocol, as docker_auth serves it.

    python -m bench.token_server --port P --key KEY.pem --users FILE --issuer ISS --service SVC

GET <realm>?service=SVC&scope=repository:NAME:pull,push[&scope=...] with HTTP Basic credentials
answers {"token", "access_token", "expires_in", "issued_at"}: a JWT signed with ES256 that
distribution 2.8 accepts with `auth: token:` (realm, service, issuer, rootcertbundle). Its header
carries `kid`, the libtrust key ID of the signing key (see `libtrust_key_id`), and distribution
trusts the key because the self-signed certificate in its rootcertbundle holds the same public
key (registry/auth/token/accesscontroller.go builds `trustedKeys` from the bundle by that ID).

Credentials are checked as docker_auth and distribution's htpasswd auth do: `user:bcrypt-hash`
lines (what `htpasswd -B` writes), verified with bcrypt on every request, with no cache of
verified credentials. Every authenticated user gets every action it asks for (docker_auth's ACL
`{match: {account: "/.+/"}, actions: ["*"]}`); a request without valid credentials gets 401.

The users file is read again when its modification time changes, so that the bench can add
users while the server runs. One thread per connection with HTTP/1.1 keep-alive (bcrypt releases
the GIL while it hashes, so verifications run on every core).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key ID distribution (docker/libtrust keyIDFromCryptoKey) gives a public key: SHA-256 of
    its DER (PKIX) encoding, first 240 bits, base32 without padding, in groups of four joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


def parse_scope(scope: str) -> dict[str, Any] | None:
    """`type:name:actions` (the name may hold ':' for a registry host with a port) as a claim entry."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


class Users:
    """`user:hash` lines, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime = -1
        self._hashes: dict[str, bytes] = {}

    def hash_of(self, user: str) -> bytes | None:
        mtime = self.path.stat().st_mtime_ns
        if mtime != self._mtime:
            with self._lock:
                hashes = {}
                for line in self.path.read_text().splitlines():
                    name, sep, h = line.partition(":")
                    if sep:
                        hashes[name] = h.encode()
                self._hashes, self._mtime = hashes, mtime
        return self._hashes.get(user)

    def any_hash(self) -> bytes:
        """A hash to check an unknown user's password against, so that it costs what a known one does."""
        return next(iter(self._hashes.values()), b"$2b$05$" + b"." * 53)


class TokenServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default of 5 drops SYNs when 64 clients connect at once

    def __init__(self, port: int, key: ec.EllipticCurvePrivateKey, users: Users, issuer: str, service: str):
        super().__init__(("127.0.0.1", port), Handler)
        self.key = key
        self.kid = libtrust_key_id(key.public_key())
        self.users = users
        self.issuer = issuer
        self.service = service
        self.expires_in = 900  # docker_auth's example configuration


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without TCP_NODELAY the body would wait for the client's
    # delayed ACK (40 ms) on every token of a kept-alive connection.
    disable_nagle_algorithm = True
    server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        users = self.server.users
        stored = users.hash_of(user)
        try:
            ok = bcrypt.checkpw(password.encode(), stored or users.any_hash())
        except ValueError:  # a malformed hash in the file
            return None
        return user if ok and stored is not None else None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, {})
            return
        if url.path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        query = parse_qs(url.query)
        service = query.get("service", [""])[0]
        if service != self.server.service:
            self._send(400, {"errors": [{"code": "BAD_REQUEST", "message": f"unknown service {service!r}"}]})
            return
        user = self._user()
        if user is None:
            self._send(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                {"WWW-Authenticate": 'Basic realm="bench token server"'},
            )
            return
        access = [a for s in query.get("scope", []) for part in s.split(" ") if (a := parse_scope(part))]
        now = int(time.time())
        claims = {
            "iss": self.server.issuer,
            "sub": user,
            "aud": service,
            "exp": now + self.server.expires_in,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        token = jwt.encode(claims, self.server.key, algorithm="ES256", headers={"kid": self.server.kid})
        issued = dt.datetime.fromtimestamp(now, dt.UTC).isoformat().replace("+00:00", "Z")
        self._send(
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": self.server.expires_in,
                "issued_at": issued,
            },
        )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.token_server", description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", type=Path, required=True, help="PEM EC P-256 private key")
    ap.add_argument("--users", type=Path, required=True, help="user:bcrypt-hash lines")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    args = ap.parse_args()
    key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit("the key must be an EC private key")
    server = TokenServer(args.port, key, Users(args.users), args.issuer, args.service)
    print(f"token server on 127.0.0.1:{args.port}, pid {os.getpid()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
