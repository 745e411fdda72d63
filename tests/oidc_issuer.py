"""A real, minimal OpenID Connect issuer for tests: discovery document, JWKS and signed ID tokens,
served over HTTP by a thread, the way a CI system's token service (GitHub Actions, GitLab) does.

It is also a login provider (the authorization-code flow with PKCE): /authorize approves `user`
at once (no login page: the test user is always signed in there) and sends the browser back with
a single-use code; /token trades the code, with the client secret and the PKCE verifier that
matches the challenge, for an ID token carrying the login's nonce. `id_token_overrides` lets a
test hand out a bad token (another audience, issuer or nonce)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class Issuer:
    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.requests: list[str] = []
        self.client_id = "wharf"
        self.client_secret = "s3cret-of-wharf"
        self.user: dict[str, Any] = {
            "sub": "8d2f6e9a-0b47-4c1e-9f35-2a7c1d5e8b90",
            "preferred_username": "jane.doe",
            "email": "jane@example.org",
            "email_verified": True,
        }
        """Who /authorize signs in (the claims of the ID token)."""
        self.id_token_overrides: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, subject: str, *, lifetime_s: int = 300, issuer: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": "wharf",
            "iat": now,
            "exp": now + lifetime_s,
        }
        return jwt.encode({**body, **claims}, self.key, algorithm="RS256", headers={"kid": self.kid})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.url + "/jwks",
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> str:
        """Where /authorize sends the browser: back to the client with a code, or with an error."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return (
                redirect_uri
                + "?"
                + urlencode({"error": "unauthorized_client", "state": query.get("state", "")})
            )
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return (
                redirect_uri + "?" + urlencode({"error": "invalid_request", "state": query.get("state", "")})
            )
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce"),
            "scope": query.get("scope", ""),
        }
        return redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint: (status, body)."""
        self.token_requests.append(form)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # a code is used once
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        claims = {**self.user, "aud": self.client_id, "nonce": grant["nonce"], **self.id_token_overrides}
        subject = claims.pop("sub")
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.token(subject, **claims),
        }


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer: Issuer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert issuer is not None
            issuer.requests.append(self.path)
            parts = urlsplit(self.path)
            if parts.path == "/authorize":
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", issuer.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = issuer.discovery()
            elif self.path == "/jwks":
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            self._json(200, body)

        def do_POST(self) -> None:
            assert issuer is not None
            issuer.requests.append(self.path)
            if self.path != "/token":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            self._json(*issuer.exchange(form))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = Issuer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
