"""Handover metrics for analysts: per province and destination, with small counts hidden.

"How many stopped at each step" (SPEC section 6) is counted by the step of the main line a
handover had reached when it left it (a decline or an expiry stops it at `offered`, an
interruption at `started`), and, beside that, by how it ended: the final status alone cannot
tell a withdrawal before the offer from one after the meeting.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

from services.handover.models import Handover
from services.handover.schemas import MetricsRow, Suppressible
from services.handover.workflow import Status

S = Status
STEPS = (S.proposed, S.consented, S.offered, S.accepted, S.meeting_scheduled, S.started)
ENDS = (S.declined, S.expired, S.withdrawn, S.cancelled, S.interrupted)


def stop_step(h: Handover) -> Status | None:
    """The last step a stopped handover reached, read from the dates each step leaves behind
    (a new consent clears the offer's); None while it goes on or once it completed."""
    status = Status(h.status)
    if status not in ENDS:
        return None
    if status is S.interrupted:
        return S.started
    if status in (S.declined, S.expired):
        return S.offered
    if h.meeting_date is not None:  # withdrawn after the meeting was set
        return S.meeting_scheduled
    if h.accepted_on is not None:
        return S.accepted
    if h.offered_on is not None:  # withdrawn when offered, or cancelled after a no
        return S.offered
    return S.consented if h.consent_date is not None else S.proposed


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
        stops = [stop_step(h) for h in group]
        rows.append(
            MetricsRow(
                province=province,
                destination=destination,
                handovers=_count(len(group), k),
                median_days_proposed_to_accepted=_median(to_accept, k),
                median_days_accepted_to_started=_median(to_start, k),
                stopped_at={step.value: _count(stops.count(step), k) for step in STEPS},
                ended_as={
                    end.value: _count(sum(1 for h in group if h.status == end), k) for end in ENDS
                },
            )
        )
    return rows
