"""Disclosure control of the signals (SPEC section 7), attacked through what is published.

Every number that leaves the service is produced here by the same code as in production (the
aggregation, the stored row, the API model, the CSV export and the dashboard), from random
populations. An attacker who knows how the numbers relate (the age bands of a signal add up to
its case count) and sees all of them must not be able to tell any suppressed count, nor even
that it is not zero. No published number is a total over cells (a province over its blockers,
a blocker over its provinces): the tests pin that down, so that adding one without
complementary suppression across cells fails here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.signals import dashboard
from services.signals.aggregate import (
    BlockedPeriod,
    Cell,
    CellStats,
    Count,
    cells,
    protect,
    refusals_shown,
    signals,
)
from services.signals.api import CSV_BANDS, SignalOut, csv_text, signal_out
from services.signals.models import SignalRow
from services.signals.service import row_values
from shared.domain import AgeBand, Blocker, LifeDomain, Province

K = 5
AS_OF = date(2026, 6, 30)
PUBLISHED_FIELDS = {
    "id",
    "status",
    "level",
    "sector",
    "province",
    "blocker",
    "domain",
    "case_count",
    "previous_count",
    "trend",
    "median_days_blocked",
    "age_bands",
    "refusals_by_provider_kind",
    "raised_on",
    "resolved_on",
    "government_response",
}


# --- the attacker ------------------------------------------------------------------------------


def splits(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to share `total` among `parts` non-negative counts."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in splits(total - first, parts - 1):
            yield (first, *rest)


def what_the_total_allows(total: int, parts: dict[str, Count]) -> dict[str, set[int]]:
    """For each suppressed part of a published total: every value it can take, given the total
    and the published parts (found by trying every split, not by the rule that made them)."""
    hidden = [name for name, c in parts.items() if c.suppressed]
    left = total - sum(c.value or 0 for c in parts.values() if not c.suppressed)
    assert left >= 0
    possible: dict[str, set[int]] = {name: set() for name in hidden}
    if hidden:
        for split in splits(left, len(hidden)):
            for name, value in zip(hidden, split, strict=True):
                possible[name].add(value)
    return possible


def assert_no_part_can_be_told(total: int, parts: dict[str, Count], truth: dict[str, int]) -> None:
    for name, possible in what_the_total_allows(total, parts).items():
        assert truth[name] in possible  # the attacker is right about what is possible...
        assert 0 in possible, (name, parts)  # ...but it could be nothing
        assert max(possible) >= K, (name, parts)  # ...or k or more: suppression tells nothing


# --- the population and what is published about it ---------------------------------------------

PROVINCES = [Province("ANT"), Province("LIM")]
BLOCKERS = [Blocker.waiting_list, Blocker.transport]
DOMAINS = [LifeDomain.youth_care, LifeDomain.school]
KINDS = ["youth_care", "mental_health", "ocmw"]

a_case = st.tuples(
    st.sampled_from(PROVINCES),
    st.lists(st.sampled_from(BLOCKERS), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=2, unique=True),
    st.sampled_from(list(AgeBand)),
    st.lists(st.sampled_from(KINDS), max_size=4),
    st.integers(min_value=0, max_value=400),
    st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
)


def periods_of(population: list[Any]) -> list[BlockedPeriod]:
    periods = []
    for i, (province, blockers, domains, band, refused, blocked, unblocked) in enumerate(
        population
    ):
        start = AS_OF - timedelta(days=blocked)
        end = None if unblocked is None else max(start, AS_OF - timedelta(days=unblocked))
        periods.append(
            BlockedPeriod(
                f"case-{i}",
                province,
                band,
                tuple(blockers),
                tuple(domains),
                tuple(refused),
                start,
                end,
            )
        )
    return periods


def publish(periods: list[BlockedPeriod]) -> tuple[dict[Cell, CellStats], list[SignalOut]]:
    """What the service would publish about `periods`: the truth behind it, and the signals."""
    stats = cells(periods, AS_OF)
    now = datetime.now(UTC)
    rows = [
        SignalRow(id=s.id, open=True, raised_on=AS_OF, updated_at=now, **row_values(s))
        for s in signals(stats, K).values()
    ]
    return stats, [signal_out(row, None) for row in rows]


def chart(html: str, chart_id: str) -> dict[str, int]:
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.S)
    assert svg is not None
    return {m[1]: int(m[2]) for m in re.finditer(r"<title>([^<:]+): (\d+)</title>", svg[0])}


def table_counts(html: str) -> dict[tuple[str, str, str], str]:
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>(\w+)</td><td>(\w+)</td>(?:<td>[^<]*</td>){2}"
        r"<td>([^<]*)</td>",
        html,
    )
    return {(p, b, d): n for p, b, d, n in rows}


# --- protect -----------------------------------------------------------------------------------


def test_protect_hides_counts_below_k_and_one_more_when_the_rest_would_give_them_away() -> None:
    counts = {"0-5": 1, "6-11": 9, "12-17": 12, "18+": 0}
    shown = protect(counts, K)
    assert shown == {
        "0-5": Count(None, True),
        "6-11": Count(None, True),  # 22 - 12 - 9 would give away the 1 in 0-5
        "12-17": Count(12, False),
        "18+": Count(None, True),
    }
    assert_no_part_can_be_told(22, shown, counts)


def test_protect_shows_everything_when_nothing_is_below_k() -> None:
    assert protect({"a": 5, "b": 7}, K) == {"a": Count(5, False), "b": Count(7, False)}


def test_protect_hides_all_when_no_single_part_can_be_shown_safely() -> None:
    shown = protect({"a": 0, "b": 0, "c": 12}, K)
    assert all(c.suppressed for c in shown.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=14), min_size=2, max_size=5))
def test_protect_leaves_nothing_to_subtract(values: list[int]) -> None:
    counts = {f"part{i}": n for i, n in enumerate(values)}
    total = sum(values)
    shown = protect(counts, K)
    for name, n in counts.items():
        assert shown[name].suppressed or shown[name].value == n
        assert shown[name].suppressed or n >= K
        assert n >= K or shown[name].suppressed
    if total >= K:  # a total below k is itself suppressed, and so are all its parts
        assert_no_part_can_be_told(total, shown, counts)


# --- refusals ----------------------------------------------------------------------------------


def test_refusals_count_cases_not_routes() -> None:
    """Two cases each refused three times by mental health are two cases, below k."""
    by_kind = {"mental_health": {"a", "b"}, "youth_care": {"a", "b", "c", "d", "e"}}
    assert refusals_shown(by_kind, K) == {"youth_care": Count(5, False)}


def test_a_kind_that_said_no_to_a_few_looks_like_one_that_said_no_to_none() -> None:
    base = [
        BlockedPeriod(
            f"c{i}",
            PROVINCES[0],
            AgeBand.b12_17,
            (BLOCKERS[0],),
            (DOMAINS[0],),
            ("youth_care",),
            AS_OF - timedelta(days=20),
        )
        for i in range(5)
    ]
    few = [
        *base[:3],
        *(
            BlockedPeriod(
                p.case_id,
                p.province,
                p.age_band,
                p.blockers,
                p.domains,
                ("youth_care", "ocmw", "ocmw", "ocmw"),
                p.blocked_on,
            )
            for p in base[3:]
        ),
    ]
    seen = [[s.model_dump() for s in publish(periods)[1]] for periods in (base, few)]
    assert seen[0] == seen[1]
    assert seen[0][0]["refusals_by_provider_kind"] == {
        "youth_care": {"value": 5, "suppressed": False}
    }


# --- everything published, attacked ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(a_case, min_size=5, max_size=40))
def test_no_suppressed_count_can_be_recovered_from_all_that_is_published(
    population: list[Any],
) -> None:
    stats, published = publish(periods_of(population))
    text = json.dumps([s.model_dump() for s in published])
    assert "case-" not in text  # no case id leaves
    for signal in published:
        assert set(signal.model_dump()) == PUBLISHED_FIELDS  # no totals, no case details
        truth = stats[
            (Province(signal.province), Blocker(signal.blocker), LifeDomain(signal.domain))
        ]
        total = signal.case_count.value
        assert total == len(truth.cases)
        assert total >= K
        # Age bands: parts of the case count.
        bands = {b: sum(1 for v in truth.age_bands.values() if v.value == b) for b in CSV_BANDS}
        assert set(signal.age_bands) == set(CSV_BANDS)
        for band, shown in signal.age_bands.items():
            assert shown.suppressed or (shown.value == bands[band] and shown.value >= K)
            assert bands[band] >= K or shown.suppressed
        assert_no_part_can_be_told(total, signal.age_bands, bands)
        # Refusals: no total to subtract from; what is listed is >= k distinct cases, and a
        # kind left out may have said no to none.
        for kind, shown in signal.refusals_by_provider_kind.items():
            assert not shown.suppressed
            assert shown.value == len(truth.refusals[kind]) >= K
        for kind, cases in truth.refusals.items():
            assert kind in signal.refusals_by_provider_kind or len(cases) < K
        # The previous window: suppressed below k, and the trend then says only "up", which
        # the suppression (below k, against a count of k or more) says already.
        previous = signal.previous_count
        if previous.suppressed:
            assert len(truth.previous) < K
            assert signal.trend == "up"
        else:
            assert previous.value == len(truth.previous) >= K

    # The CSV: one row per signal, no total row, the API's numbers and nothing else.
    by_id = {s.id: s for s in published}
    rows = list(csv.DictReader(io.StringIO(csv_text(published))))
    assert sorted(r["id"] for r in rows) == sorted(by_id)
    for row in rows:
        signal = by_id[row["id"]]
        counts = {"case_count": signal.case_count, "previous_count": signal.previous_count}
        counts |= {f"age_{b}": signal.age_bands[b] for b in CSV_BANDS}
        for column, shown in counts.items():
            assert row[column] == ("suppressed" if shown.suppressed else str(shown.value))

    # The dashboard: its charts are sums of published counts only, never a true total over
    # cells (which would take in the cells below k, and give them away by subtraction).
    html = dashboard.render(published)
    published_by_blocker: dict[str, int] = defaultdict(int)
    true_by_blocker: dict[str, set[str]] = defaultdict(set)
    for signal in published:
        published_by_blocker[signal.blocker] += signal.case_count.value or 0
    for (_, blocker, _), cell in stats.items():
        true_by_blocker[blocker.value] |= cell.cases
    assert chart(html, "by-blocker") == dict(published_by_blocker)
    provinces: dict[str, int] = defaultdict(int)
    for signal in published:
        provinces[signal.province] += 1
    assert chart(html, "by-province") == dict(provinces)  # signals, not cases
    assert table_counts(html) == {
        (s.province, s.blocker, s.domain): str(s.case_count.value) for s in published
    }


def test_below_k_cells_are_in_no_published_total() -> None:
    """Five cases waiting in Antwerp make a signal; two more in Limburg do not. Nothing
    published adds the two in: not the chart by blocker, not the CSV, not the API."""

    def waiting(case_id: str, province: Province) -> BlockedPeriod:
        return BlockedPeriod(
            case_id,
            province,
            AgeBand.b12_17,
            (BLOCKERS[0],),
            (DOMAINS[0],),
            (),
            AS_OF - timedelta(days=20),
        )

    periods = [waiting(f"a{i}", PROVINCES[0]) for i in range(5)]
    periods += [waiting(f"l{i}", PROVINCES[1]) for i in range(2)]
    _, published = publish(periods)
    assert [(s.province, s.case_count.value) for s in published] == [("ANT", 5)]
    html = dashboard.render(published)
    assert chart(html, "by-blocker") == {"waiting_list": 5}  # not 7
    [row] = csv.DictReader(io.StringIO(csv_text(published)))
    assert (row["province"], row["case_count"]) == ("ANT", "5")


@pytest.mark.parametrize("band", list(AgeBand))
def test_a_lone_case_in_an_age_band_cannot_be_subtracted_out(band: AgeBand) -> None:
    periods = [
        BlockedPeriod(
            f"c{i}",
            PROVINCES[0],
            AgeBand.b6_11 if band != AgeBand.b6_11 else AgeBand.b12_17,
            (BLOCKERS[0],),
            (DOMAINS[0],),
            (),
            AS_OF - timedelta(days=20),
        )
        for i in range(6)
    ]
    periods.append(
        BlockedPeriod(
            "lone",
            PROVINCES[0],
            band,
            (BLOCKERS[0],),
            (DOMAINS[0],),
            (),
            AS_OF - timedelta(days=20),
        )
    )
    stats, [signal] = publish(periods)
    assert signal.case_count.value == 7
    assert signal.age_bands[band.value].suppressed
    truth = {
        b: sum(1 for v in stats[next(iter(stats))].age_bands.values() if v.value == b)
        for b in CSV_BANDS
    }
    assert_no_part_can_be_told(7, signal.age_bands, truth)
