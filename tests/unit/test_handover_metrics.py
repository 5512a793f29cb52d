"""Handover metrics hide every count and median built on fewer than k handovers, and count
each stopped handover at the step where it stopped, not only by how it ended."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.handover.metrics import stop_step, table
from services.handover.models import Handover

PROPOSED = date(2026, 1, 1)


def handover(i: int, province: str, status: str, days_to_accept: int | None) -> Handover:
    return Handover(
        id=f"h{i}",
        case_id=f"c{i}",
        sender_org="clb",
        destination="work",
        goal="job",
        province=province,
        age_band="18+",
        status=status,
        proposed_on=PROPOSED,
        accepted_on=PROPOSED + timedelta(days=days_to_accept) if days_to_accept else None,
        updated_at=datetime.now(UTC),
    )


def test_small_counts_and_medians_are_suppressed() -> None:
    rows = [handover(i, "ANT", "accepted", 2 + i) for i in range(6)]
    rows += [handover(10 + i, "ANT", "declined", None) for i in range(2)]
    rows += [handover(20 + i, "LIM", "accepted", 3) for i in range(3)]
    [ant, lim] = table(rows, k=5)
    assert (ant.province, ant.handovers.value) == ("ANT", 8)
    assert ant.median_days_proposed_to_accepted.value == 4.5
    assert ant.ended_as["declined"].value is None
    assert ant.ended_as["declined"].suppressed
    assert ant.stopped_at["offered"].suppressed  # the two declines, at the offer
    assert ant.ended_as["expired"].value == 0  # nobody: nothing to hide
    assert ant.stopped_at["started"].value == 0
    assert lim.handovers.suppressed
    assert lim.handovers.value is None
    assert lim.median_days_proposed_to_accepted.suppressed


D = PROPOSED
# What each way of stopping leaves on the row (as service.take_step sets it), and the step.
CONSENTED: dict[str, Any] = {"consent_date": D}
OFFERED = {**CONSENTED, "offered_on": D}
ACCEPTED = {**OFFERED, "accepted_on": D}
MET = {**ACCEPTED, "meeting_date": D}
STOPS = [
    ("cancelled", {}, "proposed"),
    ("cancelled", CONSENTED, "consented"),
    ("withdrawn", CONSENTED, "consented"),
    ("declined", OFFERED, "offered"),
    ("expired", OFFERED, "offered"),
    ("cancelled", OFFERED, "offered"),  # declined or expired, then the case closed
    ("withdrawn", OFFERED, "offered"),
    ("withdrawn", ACCEPTED, "accepted"),
    ("withdrawn", MET, "meeting_scheduled"),
    ("interrupted", {**MET, "start_date": D, "started_on": D}, "started"),
]


@pytest.mark.parametrize(("status", "fields", "step"), STOPS)
def test_each_stop_is_counted_at_the_step_it_stopped(
    status: str, fields: dict[str, Any], step: str
) -> None:
    stopped = handover(1, "ANT", status, None)
    for name, value in fields.items():
        setattr(stopped, name, value)
    assert stop_step(stopped) == step
    [row] = table([stopped], k=1)
    assert row.stopped_at[step].value == 1
    assert sum(c.value or 0 for c in row.stopped_at.values()) == 1
    assert row.ended_as[status].value == 1


@pytest.mark.parametrize("status", ["proposed", "offered", "started", "completed"])
def test_handovers_that_go_on_or_completed_stopped_nowhere(status: str) -> None:
    assert stop_step(handover(1, "ANT", status, None)) is None
    [row] = table([handover(1, "ANT", status, None)], k=1)
    assert all(c.value == 0 for c in row.stopped_at.values())


def test_stops_at_one_step_are_suppressed_below_k_and_shown_from_k() -> None:
    rows = [handover(i, "ANT", "declined", None) for i in range(3)]
    rows += [handover(10 + i, "ANT", "expired", None) for i in range(2)]
    [few] = table(rows[:4], k=5)
    assert few.stopped_at["offered"].suppressed
    assert few.stopped_at["offered"].value is None
    [enough] = table(rows, k=5)
    assert enough.stopped_at["offered"].value == 5  # declined and expired, both at the offer
    assert enough.ended_as["declined"].suppressed  # 3 of one kind stay hidden
