"""The usage-logs view every page with logs shows (repository now; organization, user and superuser
later): a date range, a text filter, a per-day chart (web/charts.py), the entries in
words, paging, and the form that starts an export.

A page builds a `logs.Scope` for what the visitor may read, calls `view`, and includes
`_logs.html` with the result as `logs`; the export form posts to the page's own route, which
calls `start_export` with the same scope.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from wharf.core import audit_kinds, logs
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.runtime import Runtime
from wharf.services import log_exports as export_service
from wharf.services import notifications as notification_service
from wharf.services import usage_logs
from wharf.web import forms, render
from wharf.web.charts import SERIES, chart
from wharf.web.errors import WebError
from wharf.web.forms import SUMMARY, FormError
from wharf.web.session import Visitor

PAGE = 50
DEFAULT_DAYS = 7
MAX_DAYS = 92
"""The chart keeps one bar per day readable up to about a quarter."""
MAX_FILTER = 100

PUSHES = frozenset({"push_repo"})
PULLS = frozenset({"pull_repo"})


@dataclass(frozen=True, slots=True)
class Line:
    """One entry as the page shows it."""

    id: int
    kind: str
    created_ms: int
    text: str
    performer: str | None
    ip: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LogsView:
    lines: list[Line]
    chart: Markup
    totals: dict[str, int]
    start: str
    """The first day shown, YYYY-MM-DD (UTC), as the date inputs take it."""
    end: str
    """The last day shown, included."""
    text: str
    newer: str | None
    """Query string of the newer page, None on the newest."""
    older: str | None
    base: str
    """The page's address without the logs' own parameters; links add them."""
    export_action: str | None
    """Where the export form posts; None hides it (export off, or not this page's)."""
    export_by_email: bool
    is_first_page: bool

    @property
    def filtered(self) -> bool:
        return bool(self.text)

    @property
    def path(self) -> str:
        return self.base.partition("?")[0]

    @property
    def hidden(self) -> list[tuple[str, str]]:
        """The page's own parameters, kept by the range-and-filter form."""
        return parse_qsl(self.base.partition("?")[2])

    def href(self, query: str) -> str:
        return f"{self.base}{'&' if '?' in self.base else '?'}{query}"


def _refusal(title: str, advice: str, page: str | None) -> Exception:
    """A range that cannot be shown: the error page for the page's own address, the export form's
    message when the range came with that form (`page`, web/forms.py)."""
    if page is None:
        return WebError(400, title, advice)
    return FormError(page, {SUMMARY: f"{title}: {advice}"})


def _day(text: str | None, name: str, page: str | None = None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _refusal(
            f"The {name} date could not be read",
            f"{text[:40]!r} is not a date: pick one with the date picker, or type it as 2026-11-28.",
            page,
        ) from None


def _range(query: dict[str, str], page: str | None = None) -> tuple[date, date]:
    today = datetime.fromtimestamp(now_ms() / 1000, UTC).date()
    end = _day(query.get("end"), "end", page) or today
    start = _day(query.get("start"), "start", page) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise _refusal(
            "The range ends before it starts", "Pick a start date on or before the end date.", page
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise _refusal(
            "That range is too long to show",
            f"Show at most {MAX_DAYS} days at a time; to keep a longer range, export it.",
            page,
        )
    return start, end


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _cursor(text: str | None) -> tuple[int, int] | None:
    """`<created_ms>.<id>` of an entry: the page starts just past it."""
    if not text:
        return None
    created, _, entry_id = text.partition(".")
    try:
        return int(created), int(entry_id)
    except ValueError:
        raise WebError(
            400, "That page of the logs does not exist", "Use the Newer and Older links of the page."
        ) from None


async def view(
    rt: Runtime,
    request: Request,
    scope: logs.Scope,
    *,
    base: str,
    export_action: str | None,
) -> LogsView:
    """The logs of `scope` as the request's query asks: `start`, `end`, `filter`, and `before` or
    `after` (paging). The visitor's right to read `scope` is the caller's to check."""
    query = dict(request.query_params)
    start, end = _range(query)
    text = query.get("filter", "").strip()[:MAX_FILTER]
    before, after = _cursor(query.get("before")), _cursor(query.get("after"))
    start_ms, end_ms = _ms(start), _ms(end) + logs.DAY_MS
    scoped = replace(scope, text=text or None)

    found, counts = await usage_logs.page_with_counts(
        rt, scoped, start_ms, end_ms, before=before, after=after, limit=PAGE + 1
    )
    if after is not None and before is None:
        # Paging towards newer entries: the extra one, if any, lies beyond the newest shown.
        more_newer, entries = len(found) > PAGE, found[-PAGE:]
        more_older = True
    else:
        entries, more_older = found[:PAGE], len(found) > PAGE
        more_newer = before is not None
    kept = {"start": start.isoformat(), "end": end.isoformat(), "filter": text}

    def link(**cursor: str) -> str:
        return urlencode({**{k: v for k, v in kept.items() if v}, **cursor})

    newer = older = None
    if entries and more_newer:
        newer = link(after=f"{entries[0].created_ms}.{entries[0].id}")
    if entries and more_older:
        older = link(before=f"{entries[-1].created_ms}.{entries[-1].id}")
    if not entries and (before or after):
        newer = link()  # a page emptied since: offer the newest again
    by_series = _by_series(counts)
    return LogsView(
        lines=[_line(e) for e in entries],
        chart=chart(start, end, by_series),
        totals={name: sum(days.values()) for name, days in by_series.items()},
        start=start.isoformat(),
        end=end.isoformat(),
        text=text,
        newer=newer,
        older=older,
        base=base,
        export_action=export_action if rt.settings.FEATURE_LOG_EXPORT else None,
        export_by_email=notification_service.mail_enabled(rt.settings),
        is_first_page=before is None and after is None,
    )


def _series(kind: str) -> str:
    if kind in PUSHES:
        return "push"
    if kind in PULLS:
        return "pull"
    return "other"


def _by_series(counts: list[tuple[str, int, int]]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {name: {} for name, _ in SERIES}
    for kind, n, day_ms in counts:
        days = out[_series(kind)]
        days[day_ms] = days.get(day_ms, 0) + n
    return out


# Entries in words --------------------------------------------------------------------------------


def describe(kind: str, performer: str | None, metadata: dict[str, Any]) -> str:
    """The entry as its kind's sentence (core/audit_kinds.py); an undeclared kind, or details a
    sentence cannot use, as kind and details."""
    try:
        found = audit_kinds.sentence(kind, performer, metadata, render.when)
    except (KeyError, TypeError, ValueError):
        found = None
    if found is not None:
        return found
    details = ", ".join(f"{k}={v}" for k, v in sorted(metadata.items()) if v not in (None, "", [], {}))
    return f"{kind.replace('_', ' ')}: {details}" if details else kind.replace("_", " ")


def _line(e: logs.Entry) -> Line:
    performer = e.performer.name if e.performer is not None else None
    return Line(
        e.id, e.kind, e.created_ms, describe(e.kind, performer, e.metadata), performer, e.ip, e.metadata
    )


# Export ------------------------------------------------------------------------------------------


async def start_export(
    rt: Runtime,
    request: Request,
    v: Visitor,
    scope: logs.Scope,
    names: tuple[str, str | None],
    form: dict[str, str],
    back: str,
) -> Response:
    """Queue an export of `scope` over the form's range (the visitor's right to it checked by the
    caller), and say where the link will go."""
    if not rt.settings.FEATURE_LOG_EXPORT:
        raise WebError(404, "Log export is off", "The registry's admin can turn on FEATURE_LOG_EXPORT.")
    start, end = _range({"start": form.get("start", ""), "end": form.get("end", "")}, back)
    # A refused export shows the logs of the range it was asked for, with the message in its form.
    page = f"{back}&{urlencode({'start': start.isoformat(), 'end': end.isoformat()})}"
    email = form.get("callback_email", "").strip() or None
    url = form.get("callback_url", "").strip() or None
    assert v.identity.account_id is not None
    try:
        export = await export_service.start(
            rt,
            v.identity.account_id,
            scope,
            names,
            _ms(start),
            _ms(end) + logs.DAY_MS,
            url,
            email,
            refuse_email_without_mail=True,
        )
    except export_service.MailOff:
        # The form offers no e-mail field then: the message is the form's.
        raise FormError(
            page,
            {
                SUMMARY: "This registry sends no e-mail: give a URL to receive the link instead, or ask "
                "the registry's admin to set MAIL_SERVER."
            },
        ) from None
    except export_service.CallbackRefused as e:
        raise FormError(
            page,
            callback_url=f"{forms.sentence(str(e))} Use another address: an https:// URL that takes a POST.",
        ) from None
    except InvalidInput as e:
        if e.field == "callback_email":
            raise FormError(
                page, callback_email=f"{forms.sentence(str(e))} Type it as name@example.com."
            ) from None
        if e.field == "callback_url":
            raise FormError(page, callback_url=f"{forms.sentence(str(e))} Use a shorter address.") from None
        raise FormError(
            page, {SUMMARY: "Say where to send the link to the export: an e-mail address, a URL or both."}
        ) from None
    where = " and ".join(x for x in (email, url) if x)
    return render.redirect(
        back,
        f"Exporting the logs of {start.isoformat()} to {end.isoformat()} (export {export.uuid}). "
        f"A link to the file goes to {where} when it is ready, usually within minutes.",
    )
