"""Where an inbox item leads: the repository an event is about (its tags, the manifest when the
event names one), the namespace of a quota event, a vulnerability's advisory.

Links are built from the event's names, as paths of this site, never from its `homepage` (the
address the event was fired through, which may be another node's or an old hostname).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from wharf.core.inbox import InboxItem

MAX_TAGS = 5
"""Tags linked one by one; more are summed up as a link to the Tags tab."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,254}$")
"""A repository's full name or a namespace, as far as a link needs to trust it."""
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    href: str
    external: bool = False
    """Off this site (an advisory): opened without a referrer."""


@dataclass(frozen=True, slots=True)
class ItemLinks:
    main: str | None = None
    """What the item's summary links to."""
    more: list[Link] = field(default_factory=list)
    """The tags, the manifest, the advisory."""


def _repository(data: dict[str, Any]) -> str | None:
    repo = data.get("repository")
    return repo if isinstance(repo, str) and "/" in repo and _NAME.match(repo) else None


def _tags(data: dict[str, Any]) -> list[str]:
    found = data.get("updated_tags") or data.get("tags") or data.get("docker_tags") or []
    return [t for t in found if isinstance(t, str) and t] if isinstance(found, list) else []


def _repository_links(repo: str, data: dict[str, Any]) -> ItemLinks:
    base = "/repository/" + quote(repo, safe="/")
    more = []
    tags = _tags(data)
    for tag in tags[:MAX_TAGS]:
        more.append(Link(tag, f"{base}?{urlencode({'tab': 'tags', 'q': tag})}"))
    if len(tags) > MAX_TAGS:
        more.append(Link(f"{len(tags) - MAX_TAGS} more tags", f"{base}?tab=tags"))
    digest = data.get("manifest_digest") or data.get("digest")
    if isinstance(digest, str) and _DIGEST.match(digest):
        more.append(Link("manifest", f"{base}/manifest/{digest}"))
    vulnerability = data.get("vulnerability")
    if isinstance(vulnerability, dict):
        advisory = vulnerability.get("link")
        if isinstance(advisory, str) and advisory.startswith(("https://", "http://")):
            more.append(Link(str(vulnerability.get("id") or "advisory"), advisory, external=True))
    return ItemLinks(base, more)


def of(item: InboxItem, visitor_name: str | None) -> ItemLinks:
    """The links of `item`, as `visitor_name` sees it."""
    data = item.metadata
    repo = _repository(data)
    if repo is not None:
        return _repository_links(repo, data)
    namespace = data.get("namespace")
    if isinstance(namespace, str) and _NAME.match(namespace) and "/" not in namespace:
        # A namespace event (quota) reaches a user about their own namespace, else an org's admins.
        kind = "user" if namespace == visitor_name and item.organization is None else "organization"
        return ItemLinks(f"/{kind}/{quote(namespace)}")
    return ItemLinks()
