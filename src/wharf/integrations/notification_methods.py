"""How notifications leave Wharf: webhook POSTs (signed), Slack incoming webhooks and e-mail.

Every send either returns a short description of the success or raises DeliveryFailed with what
went wrong, in words an admin can act on; the job counts failures.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wharf.config import Settings
from wharf.core import events
from wharf.integrations import mail, outbound

SIGNATURE_HEADER = "X-Wharf-Signature"
USER_AGENT = "Wharf-Notifications/1"
SLACK_COLORS = {
    "primary": "good",
    "success": "good",
    "warning": "warning",
    "error": "danger",
    "info": "#439FE0",
}


class DeliveryFailed(Exception):
    """The receiver could not be reached or did not accept the notification."""


class InvalidMethodConfig(Exception):
    """A notification's method config cannot work; the message says why."""


@dataclass(frozen=True, slots=True)
class Delivery:
    notification_uuid: str
    event: str
    data: dict[str, Any]
    context: dict[str, Any]
    config: dict[str, Any]
    signing_key: str
    delivery_id: str

    @property
    def summary(self) -> str:
        return events.EVENTS[self.event].summary(self.data)


def sign(key: str, timestamp: int, body: bytes) -> str:
    """The X-Wharf-Signature value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    mac = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(key: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """Check a signature header the way a receiver should: right key, recent timestamp."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(key, timestamp, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


async def check_url(settings: Settings, url: Any, what: str) -> str:
    """Refuse, at creation time, a URL that delivery would refuse."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise InvalidMethodConfig(f"{what} must be an http:// or https:// URL")
    try:
        await outbound.check_url(url, settings, settings.WEBHOOK_HOSTNAME_BLACKLIST)
    except outbound.OutboundRefused as e:
        raise InvalidMethodConfig(str(e)) from None
    except outbound.OutboundFailed:
        pass  # a name that does not resolve yet may resolve later; delivery checks again
    return url


async def validate(settings: Settings, method: str, config: dict[str, Any]) -> None:
    """The checks that need no database: URLs, required fields."""
    if method == "webhook":
        await check_url(settings, config.get("url"), "config.url")
        if config.get("payload", "event") not in ("event", "legacy"):
            raise InvalidMethodConfig("config.payload must be `event` (the default) or `legacy`")
    elif method == "slack":
        await check_url(settings, config.get("url"), "config.url (the Slack incoming-webhook URL)")
    elif method == "email":
        if not isinstance(config.get("email"), str) or "@" not in config["email"]:
            raise InvalidMethodConfig("config.email must be an e-mail address")
    elif method == "flowdock":
        if not config.get("flow_api_token"):
            raise InvalidMethodConfig("config.flow_api_token is required")
    elif method == "hipchat" and (not config.get("notification_token") or not config.get("room_id")):
        raise InvalidMethodConfig("config.notification_token and config.room_id are required")


def _legacy_push_body(d: Delivery) -> dict[str, Any]:
    """The push payload of Quay's first webhooks (seed 001): tags map to the pushed digest."""
    digest = d.context.get("manifest_digest")
    tags = d.data.get("updated_tags") or []
    return {
        "pushed_image_count": len(tags),
        "name": d.data["name"],
        "repository": d.data["repository"],
        "docker_url": d.data["docker_url"],
        "updated_tags": {t: digest for t in tags},
        "namespace": d.data["namespace"],
        "visibility": d.context.get("visibility", "private"),
        "homepage": d.data["homepage"],
    }


async def _post(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> str:
    try:
        answer = await outbound.post(
            url,
            settings,
            body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout_s=settings.NOTIFICATION_SEND_TIMEOUT,
            client_cert=outbound.client_certificate(settings) if url.startswith("https:") else None,
            blocked_hosts=settings.WEBHOOK_HOSTNAME_BLACKLIST,
        )
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise DeliveryFailed(str(e)) from None
    if not 200 <= answer.status < 300:
        snippet = answer.body[:200].decode("utf-8", "replace")
        raise DeliveryFailed(f"{url} answered HTTP {answer.status}: {snippet}")
    return f"{url} answered HTTP {answer.status}"


async def webhook(settings: Settings, d: Delivery) -> str:
    payload = (
        _legacy_push_body(d) if d.config.get("payload") == "legacy" and d.event == "repo_push" else d.data
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        SIGNATURE_HEADER: sign(d.signing_key, int(time.time()), body),
        "X-Wharf-Event": d.event,
        "X-Wharf-Delivery": d.delivery_id,
        "X-Wharf-Notification": d.notification_uuid,
    }
    return await _post(settings, str(d.config["url"]), body, headers)


def _details(d: Delivery) -> list[tuple[str, str]]:
    shown = []
    for key, value in d.data.items():
        if key in ("namespace", "name"):
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        if isinstance(value, dict):
            text = json.dumps(value)
        shown.append((key, text))
    return shown


async def slack(settings: Settings, d: Delivery) -> str:
    lines = [f"*{k}*: {v}" for k, v in _details(d)]
    level = events.level_of(d.event, d.data)
    payload = {
        "text": d.summary,
        "username": "wharf",
        "attachments": [
            {
                "fallback": d.summary,
                "text": "\n".join(lines),
                "color": SLACK_COLORS.get(level, "#ffffff"),
                "mrkdwn_in": ["text"],
            }
        ],
    }
    return await _post(settings, str(d.config["url"]), json.dumps(payload).encode(), {})


async def email(settings: Settings, d: Delivery, to: str) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _details(d)
    )
    text = d.summary + "\n\n" + "\n".join(f"{k}: {v}" for k, v in _details(d))
    page = f"<h2>{html.escape(d.summary)}</h2><table>{rows}</table>"
    try:
        await mail.send(settings, to, d.summary, text, page)
    except (mail.MailUnavailable, mail.MailFailed) as e:
        raise DeliveryFailed(str(e)) from None
    return f"e-mailed {to}"


def retired(method: str) -> DeliveryFailed:
    """Flowdock and HipChat no longer exist; their notifications are kept so configurations load."""
    return DeliveryFailed(
        f"{method} has been shut down by its vendor; nothing was sent. Replace this notification with a "
        "webhook or Slack notification"
    )
