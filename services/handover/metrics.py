"""Handover metrics for analysts: per province and destination, with small counts hidden."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

from services.handover.models import Handover
from services.handover.schemas import MetricsRow, Suppressible
from services.handover.workflow import Status

STOPS = ("declined", "expired", "withdrawn", "cancelled", "interrupted")


def _count(n: int, k: int) -> Suppressible:
    return (
        Suppressible(value=None, suppressed=True)
        if 0 < n < k
        else Suppressible(value=n, suppressed=False)
    )


def _median(days: list[int], k: int) -> Suppressible:
    if len(days) < k:
        return Suppressible(value=None, suppressed=True)
    return Suppressible(value=statistics.median(days), suppressed=False)


def table(handovers: Iterable[Handover], *, k: int) -> list[MetricsRow]:
    """A median of fewer than k handovers, or a count below k, is shown as suppressed."""
    groups: dict[tuple[str, str], list[Handover]] = defaultdict(list)
    for h in handovers:
        groups[(h.province, h.destination)].append(h)
    rows = []
    for (province, destination), group in sorted(groups.items()):
        to_accept = [(h.accepted_on - h.proposed_on).days for h in group if h.accepted_on]
        to_start = [
            (h.started_on - h.accepted_on).days for h in group if h.started_on and h.accepted_on
        ]
        rows.append(
            MetricsRow(
                province=province,
                destination=destination,
                handovers=_count(len(group), k),
                median_days_proposed_to_accepted=_median(to_accept, k),
                median_days_accepted_to_started=_median(to_start, k),
                stopped_at={
                    stop: _count(sum(1 for h in group if h.status == Status(stop)), k)
                    for stop in STOPS
                },
            )
        )
    return rows
