"""Handover metrics hide every count and median built on fewer than k handovers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.handover.metrics import table
from services.handover.models import Handover


def handover(i: int, province: str, status: str, days_to_accept: int | None) -> Handover:
    proposed = date(2026, 1, 1)
    return Handover(
        id=f"h{i}",
        case_id=f"c{i}",
        sender_org="clb",
        destination="work",
        goal="job",
        province=province,
        age_band="18+",
        status=status,
        proposed_on=proposed,
        accepted_on=proposed + timedelta(days=days_to_accept) if days_to_accept else None,
        updated_at=datetime.now(UTC),
    )


def test_small_counts_and_medians_are_suppressed() -> None:
    rows = [handover(i, "ANT", "accepted", 2 + i) for i in range(6)]
    rows += [handover(10 + i, "ANT", "declined", None) for i in range(2)]
    rows += [handover(20 + i, "LIM", "accepted", 3) for i in range(3)]
    [ant, lim] = table(rows, k=5)
    assert (ant.province, ant.handovers.value) == ("ANT", 8)
    assert ant.median_days_proposed_to_accepted.value == 4.5
    assert ant.stopped_at["declined"].value is None
    assert ant.stopped_at["declined"].suppressed
    assert ant.stopped_at["expired"].value == 0  # nobody: nothing to hide
    assert lim.handovers.suppressed
    assert lim.handovers.value is None
    assert lim.median_days_proposed_to_accepted.suppressed
