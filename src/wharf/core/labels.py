"""Manifest labels: read from the image configuration at push time, or added through the API.

The label `quay.expires-after` (e.g. `12h`, `7d`, `2w`) makes the tags pushed with the manifest
expire that long after the push, as in Quay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from wharf.core import durations
from wharf.core.errors import InvalidInput, NotFound
from wharf.db.engine import Db
from wharf.db.models import ManifestLabel
from wharf.oci import jsondoc

EXPIRES_AFTER = "quay.expires-after"
MEDIA_TYPES = ("text/plain", "application/json")
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LabelRecord:
    uuid: str
    key: str
    value: str
    media_type: str
    source_type: str


def from_config(config: bytes) -> dict[str, str]:
    """The `Labels` of an image configuration (OCI or Docker); {} when there are none or it is not JSON."""
    try:
        doc = jsondoc.loads(config)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    for section in ("config", "container_config"):
        labels = (doc.get(section) or {}).get("Labels") if isinstance(doc.get(section), dict) else None
        if isinstance(labels, dict):
            return {str(k)[:255]: str(v) for k, v in labels.items() if isinstance(k, str)}
    return {}


def expires_after_ms(labels: dict[str, str]) -> int | None:
    """The lifetime the `quay.expires-after` label asks for, or None (also for a malformed value)."""
    value = labels.get(EXPIRES_AFTER)
    if value is None:
        return None
    try:
        return durations.parse_seconds(value) * 1000
    except InvalidInput:
        return None


_COLUMNS = (
    ManifestLabel.uuid,
    ManifestLabel.key,
    ManifestLabel.value,
    ManifestLabel.media_type,
    ManifestLabel.source_type,
)


def record_from_manifest(db: Db, manifest_id: int, labels: dict[str, str]) -> None:
    """Store the configuration's labels once per manifest (a re-push changes nothing)."""
    if not labels:
        return
    existing = db.execute(
        select(ManifestLabel.id).where(
            ManifestLabel.manifest_id == manifest_id, ManifestLabel.source_type == "manifest"
        )
    ).first()
    if existing is not None:
        return
    db.execute(
        insert(ManifestLabel),
        [
            {
                "uuid": str(uuid.uuid4()),
                "manifest_id": manifest_id,
                "key": k,
                "value": v,
                "media_type": "text/plain",
                "source_type": "manifest",
            }
            for k, v in sorted(labels.items())
        ],
    )


def list_for(db: Db, manifest_id: int, prefix: str | None = None) -> list[LabelRecord]:
    query = select(*_COLUMNS).where(ManifestLabel.manifest_id == manifest_id)
    rows = db.execute(query.order_by(ManifestLabel.key, ManifestLabel.id)).all()
    return [LabelRecord(*r) for r in rows if prefix is None or r.key.startswith(prefix)]


def get(db: Db, manifest_id: int, label_uuid: str) -> LabelRecord:
    row = db.execute(
        select(*_COLUMNS).where(ManifestLabel.manifest_id == manifest_id, ManifestLabel.uuid == label_uuid)
    ).first()
    if row is None:
        raise NotFound(f"no label {label_uuid!r} on this manifest")
    return LabelRecord(*row)


def check(key: str, value: str, media_type: str | None) -> str:
    """Validate a label added through the API; returns its media type."""
    media_type = media_type or "text/plain"
    if media_type not in MEDIA_TYPES:
        raise InvalidInput(f"media_type must be one of {', '.join(MEDIA_TYPES)}")
    if not key or len(key) > 255 or any(c.isspace() for c in key):
        raise InvalidInput("a label key is 1-255 characters without spaces")
    if media_type == "application/json":
        try:
            jsondoc.loads(value)
        except ValueError:
            raise InvalidInput("the value is not valid JSON, as media_type application/json says") from None
    if key == EXPIRES_AFTER and expires_after_ms({key: value}) is None:
        raise InvalidInput(f"{EXPIRES_AFTER} takes a duration like 12h, 7d or 2w")
    return media_type


def add(db: Db, manifest_id: int, key: str, value: str, media_type: str | None) -> LabelRecord:
    kind = check(key, value, media_type)
    label_uuid = str(uuid.uuid4())
    db.execute(
        insert(ManifestLabel).values(
            uuid=label_uuid, manifest_id=manifest_id, key=key, value=value, media_type=kind, source_type="api"
        )
    )
    return LabelRecord(label_uuid, key, value, kind, "api")


def remove(db: Db, manifest_id: int, label_uuid: str) -> LabelRecord:
    label = get(db, manifest_id, label_uuid)
    if label.source_type == "manifest":
        raise InvalidInput("labels that come from the image itself cannot be deleted")
    db.execute(delete(ManifestLabel).where(ManifestLabel.uuid == label_uuid))
    return label


def as_dict(labels: list[LabelRecord]) -> dict[str, Any]:
    return {label.key: label.value for label in labels}
