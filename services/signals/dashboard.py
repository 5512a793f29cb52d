"""The analysts' dashboard: open signals as server-rendered SVG bar charts."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

BAR = 22
WIDTH = 520


def bar_chart(title: str, values: dict[str, int], chart_id: str) -> str:
    """A horizontal bar chart; one <rect class="bar"> per value."""
    top = max(values.values(), default=0) or 1
    height = BAR * max(len(values), 1) + 30
    bars = []
    for i, (label, value) in enumerate(sorted(values.items(), key=lambda kv: -kv[1])):
        y = 24 + i * BAR
        width = int((WIDTH - 250) * value / top)  # room for the value after the bar
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="13">{escape(label)}</text>'
            f'<rect class="bar" x="190" y="{y + 3}" width="{width}" height="{BAR - 6}" '
            f'fill="#2f6f9f"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{196 + width}" y="{y + 15}" font-size="12">{value}</text>'
        )
    return (
        f'<figure><svg id="{chart_id}" class="chart" role="img" aria-label="{escape(title)}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" font-size="14" font-weight="bold">{escape(title)}</text>'
        f"{''.join(bars)}</svg></figure>"
    )


def render(signals: list[Any]) -> str:
    by_blocker: Counter[str] = Counter()
    by_province: Counter[str] = Counter()
    for s in signals:
        by_blocker[s.blocker] += s.case_count.value or 0
        by_province[s.province] += 1
    rows = "".join(
        f"<tr><td>{escape(s.province)}</td><td>{escape(s.blocker)}</td>"
        f"<td>{escape(s.domain)}</td><td>{escape(s.level)}</td><td>{escape(s.sector)}</td>"
        f"<td>{s.case_count.value if s.case_count.value is not None else '-'}</td>"
        f"<td>{escape(s.trend or '')}</td><td>{escape(s.status)}</td></tr>"
        for s in signals
    )
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>brug - signalen</title>
<style>body{{font-family:sans-serif;margin:2rem;max-width:70rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem}}
.charts{{display:flex;flex-wrap:wrap;gap:2rem}}</style></head>
<body><h1>Open signals</h1>
<p>{len(signals)} open signals. Counts of blocked cases per cell; no count below k is shown.</p>
<div class="charts">
{bar_chart("Case counts of open signals, by blocker", dict(by_blocker), "by-blocker")}
{bar_chart("Open signals by province", dict(by_province), "by-province")}
</div>
<table><thead><tr><th>province</th><th>blocker</th><th>domain</th><th>level</th><th>sector</th>
<th>cases</th><th>trend</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>"""
