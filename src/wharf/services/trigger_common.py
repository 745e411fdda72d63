"""What the modules of connected build triggers (services/github_triggers.py, gitlab_triggers.py,
bitbucket_triggers.py) share that is not about OAuth (services/trigger_oauth.py is).
"""

from __future__ import annotations

import logging

from wharf.core.build_triggers import TriggerRecord

log = logging.getLogger("wharf.build_triggers")


def left_behind(trigger: TriggerRecord, service: str, source: str, why: object) -> None:
    """A trigger is deleted without its deploy key and webhook being removed from the service
    (which no longer honours the token): say so, since an admin must remove them by hand."""
    log.warning(
        "build trigger %s deleted without reaching %s (%s): "
        "remove its deploy key and webhook from %s by hand",
        trigger.uuid,
        service,
        why,
        source,
    )
