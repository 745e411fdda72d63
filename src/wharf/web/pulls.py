"""Pull commands for a tag, in the client the visitor chose (podman, docker or skopeo; by tag or by
digest). The choice is a GET form on the Information and Tags tabs, kept in a cookie so that both
tabs, and the next visit, use the same one."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from wharf.web.render import plain_http

CLIENTS = ("podman", "docker", "skopeo")
BY = ("tag", "digest")
COOKIE = "wharf_pull"


@dataclass(frozen=True, slots=True)
class PullChoice:
    client: str = "podman"
    by: str = "tag"
    changed: bool = False
    """Asked for by this request: the answer keeps it in the cookie."""
    plain_http: bool = False
    """The registry is reached over plain HTTP: podman and skopeo are told not to try TLS."""

    def command(self, host: str, full_name: str, tag: str, digest: str, by: str | None = None) -> str:
        """The command that pulls `tag` (or its `digest`) of `host/full_name`."""
        by = by or self.by
        ref = f"{host}/{full_name}" + (f"@{digest}" if by == "digest" else f":{tag}")
        if self.client == "skopeo":
            # skopeo copies rather than pulls: into an OCI archive named after the image.
            short = digest.partition(":")[2][:12] if by == "digest" else tag
            tls = " --src-tls-verify=false" if self.plain_http else ""
            return f"skopeo copy{tls} docker://{ref} oci-archive:{full_name.rsplit('/', 1)[-1]}-{short}.tar"
        tls = " --tls-verify=false" if self.plain_http and self.client == "podman" else ""
        return f"{self.client} pull{tls} {ref}"

    def keep(self, response: Response) -> Response:
        if self.changed:
            response.set_cookie(
                COOKIE, f"{self.client}:{self.by}", max_age=365 * 86400, path="/", samesite="lax"
            )
        return response


def choice(request: Request) -> PullChoice:
    """The client asked for in the query, else the one kept in the cookie, else podman by tag."""
    client, by = request.query_params.get("client"), request.query_params.get("by")
    kept = choice_from_cookie(request)
    if client in CLIENTS or by in BY:
        return PullChoice(
            client if client in CLIENTS else kept.client,
            by if by in BY else kept.by,
            changed=True,
            plain_http=kept.plain_http,
        )
    return kept


def choice_from_cookie(request: Request) -> PullChoice:
    client, _, by = request.cookies.get(COOKIE, "").partition(":")
    return PullChoice(
        client if client in CLIENTS else "podman", by if by in BY else "tag", plain_http=plain_http(request)
    )
