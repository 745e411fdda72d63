"""Starting an export of usage logs: the callbacks are checked (the URL's form and address, the
e-mail's form), then the export is recorded and its job queued in one transaction; the worker
(jobs/log_export.py) writes the file and sends the link."""

from __future__ import annotations

from wharf.core import log_exports, logs
from wharf.core.errors import InvalidInput
from wharf.core.log_exports import LogExportRecord
from wharf.integrations import mail, outbound
from wharf.runtime import Runtime


class CallbackRefused(InvalidInput):
    """callback_url may not be used (its scheme, a blocked host, an internal address); the reason."""


class MailOff(InvalidInput):
    """callback_email on a registry that sends no mail, where the caller asked to refuse it."""


async def start(
    rt: Runtime,
    requester_id: int,
    scope: logs.Scope,
    names: tuple[str, str | None],
    start_ms: int,
    end_ms: int,
    callback_url: str | None,
    callback_email: str | None,
    *,
    resolve_url: bool = True,
    refuse_email_without_mail: bool = False,
) -> LogExportRecord:
    """Queue an export of `scope` (the requester's right to it checked by the caller) over
    [start_ms, end_ms), for the namespace and repository `names`.

    Raises InvalidInput (no callback, or one of the wrong form), MailOff (only with
    `refuse_email_without_mail`), CallbackRefused. With `resolve_url` false the URL's host is not
    resolved now (as on Quay): each delivery attempt checks the address it resolves to."""
    log_exports.check_callbacks(callback_url, callback_email)
    if refuse_email_without_mail and callback_email and not mail.enabled(rt.settings):
        raise MailOff("e-mail is not configured on this registry (MAIL_SERVER)")
    if callback_url:
        try:
            await outbound.check_url(
                callback_url, rt.settings, rt.settings.WEBHOOK_HOSTNAME_BLACKLIST, resolve=resolve_url
            )
        except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
            raise CallbackRefused(str(e)) from None
    return await rt.db.write(
        log_exports.create,
        requester_id,
        scope,
        names[0],
        names[1],
        start_ms,
        end_ms,
        callback_url,
        callback_email,
        rt.settings.public_origin,
    )
