"""Charts drawn server-side as inline SVG: no script, and colours come from the stylesheet
(classes), since the page's CSP allows no inline style.

The usage-logs view (web/pages/logs.py) draws its entries per day with `chart`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup, escape

SERIES = (("push", "Pushes"), ("pull", "Pulls"), ("other", "Other changes"))
"""The stacked series, bottom first: (name, which is also the bars' CSS class; label)."""

_W, _H, _LEFT, _BOTTOM, _TOP = 720, 180, 34, 22, 8


def chart(start: date, end: date, by_series: dict[str, dict[int, int]]) -> Markup:
    """The entries of each series (`by_series`: series name -> day's start in ms -> count) per UTC
    day from `start` to `end`, as stacked bars with the day's counts in words on hover."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    totals = [sum(by_series[name].get(_ms(d), 0) for name, _ in SERIES) for d in days]
    peak = max([*totals, 1])
    plot_w, plot_h = _W - _LEFT, _H - _BOTTOM - _TOP
    slot = plot_w / len(days)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="log-chart" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-labelledby="log-chart-title" preserveAspectRatio="none">',
        f'<title id="log-chart-title">Entries per day, {start.isoformat()} to {end.isoformat()}: '
        f"{sum(totals)} in all</title>",
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W}" y2="{_TOP + plot_h}"/>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(days) // 8)
    for i, (day, total) in enumerate(zip(days, totals, strict=True)):
        x = _LEFT + i * slot + (slot - bar) / 2
        y = float(_TOP + plot_h)
        counts = {name: by_series[name].get(_ms(day), 0) for name, _ in SERIES}
        summary = ", ".join(_count(n, name) for name, _ in SERIES if (n := counts[name]))
        parts.append(f'<g class="day"><title>{day.isoformat()}: {escape(summary or "nothing")}</title>')
        for name, _label in SERIES:
            n = counts[name]
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            parts.append(f'<rect class="{name}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"/>')
        if total == 0:
            parts.append(
                f'<rect class="none" x="{x:.1f}" y="{_TOP + plot_h - 1}" width="{bar:.1f}" height="1"/>'
            )
        parts.append("</g>")
        if i % label_every == 0:
            cx = _LEFT + i * slot + slot / 2
            label = day.strftime("%b %d")
            parts.append(f'<text class="tick" x="{cx:.1f}" y="{_H - 6}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _count(n: int, series: str) -> str:
    one, many = {"push": ("push", "pushes"), "pull": ("pull", "pulls")}.get(series, ("change", "changes"))
    return f"{n} {one if n == 1 else many}"


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
