"""Blocked periods from case events, and the distinct cases per cell (SPEC section 7): the
pure functions behind both the live signals and the rebuild."""

from __future__ import annotations

from datetime import date, timedelta

from services.signals.aggregate import BlockedPeriod, cells, signals
from services.signals.facts import next_periods
from shared.domain import AgeBand, Blocker, LifeDomain, Province
from shared.events.contracts import CaseBlocked, CaseClosed, CaseUnblocked, RouteTried

AS_OF = date(2026, 6, 30)
ANT, LIM = Province("ANT"), Province("LIM")
WAIT, TRANSPORT = Blocker.waiting_list, Blocker.transport
YOUTH, SCHOOL = LifeDomain.youth_care, LifeDomain.school


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def block(
    case_id: str,
    days_ago: int,
    blockers: tuple[Blocker, ...] = (WAIT,),
    domains: tuple[LifeDomain, ...] = (YOUTH,),
    *,
    province: Province = ANT,
    band: AgeBand = AgeBand.b12_17,
    refused_by: tuple[str, ...] = (),
) -> CaseBlocked:
    return CaseBlocked(
        case_id=case_id,
        province=province,
        age_band=band,
        blockers=list(blockers),
        domains=list(domains),
        routes_tried=[
            RouteTried(provider_kind=k, answer="refused", date=ago(days_ago)) for k in refused_by
        ],
        blocked_on=ago(days_ago),
    )


def replay(*events: CaseBlocked | CaseUnblocked | CaseClosed) -> list[BlockedPeriod]:
    periods: list[BlockedPeriod] = []
    for event in events:
        periods = next_periods(periods, event)
    return periods


def period(
    case_id: str,
    blocked_ago: int,
    unblocked_ago: int | None = None,
    blockers: tuple[Blocker, ...] = (WAIT,),
    domains: tuple[LifeDomain, ...] = (YOUTH,),
    *,
    province: Province = ANT,
    band: AgeBand = AgeBand.b12_17,
    refusals: tuple[str, ...] = (),
) -> BlockedPeriod:
    return BlockedPeriod(
        case_id,
        province,
        band,
        blockers,
        domains,
        refusals,
        ago(blocked_ago),
        None if unblocked_ago is None else ago(unblocked_ago),
    )


# --- next_periods ------------------------------------------------------------------------------


def test_a_block_while_blocked_ends_the_open_period_and_starts_a_new_one() -> None:
    periods = replay(block("c", 40), block("c", 10, (TRANSPORT,), (SCHOOL,)))
    assert [(p.blockers, p.domains, p.blocked_on, p.unblocked_on) for p in periods] == [
        ((WAIT,), (YOUTH,), ago(40), ago(10)),
        ((TRANSPORT,), (SCHOOL,), ago(10), None),
    ]


def test_a_block_corrected_the_same_day_replaces_the_open_one() -> None:
    periods = replay(block("c", 10), block("c", 10, (TRANSPORT,), (SCHOOL,)))
    assert [(p.blockers, p.domains, p.unblocked_on) for p in periods] == [
        ((TRANSPORT,), (SCHOOL,), None)
    ]
    wrong_cell = (Province("ANT"), WAIT, YOUTH)
    assert wrong_cell not in cells(periods, AS_OF)


def test_the_same_block_delivered_twice_changes_nothing() -> None:
    once = replay(block("c", 40, refused_by=("caw",)))
    assert next_periods(once, block("c", 40, refused_by=("caw",))) == once


def test_unblocking_and_closing_end_the_open_period_never_before_it_began() -> None:
    periods = replay(block("c", 40), CaseUnblocked(case_id="c", unblocked_on=ago(5)))
    assert [(p.blocked_on, p.unblocked_on) for p in periods] == [(ago(40), ago(5))]
    again = replay(block("c", 3), CaseClosed(case_id="c", closed_on=ago(9)))
    assert [(p.blocked_on, p.unblocked_on) for p in again] == [(ago(3), ago(3))]


# --- cells -------------------------------------------------------------------------------------


def test_a_case_blocked_again_for_other_reasons_counts_in_both_cells() -> None:
    """Blocked on a waiting list, then (still blocked) for transport: within the window it was
    blocked in both cells, so it counts in both."""
    periods = replay(block("c", 40), block("c", 10, (TRANSPORT,)))
    found = cells(periods, AS_OF)
    assert found[(ANT, WAIT, YOUTH)].cases == {"c"}
    assert found[(ANT, TRANSPORT, YOUTH)].cases == {"c"}
    assert found[(ANT, WAIT, YOUTH)].days_blocked == {"c": 30}
    assert found[(ANT, TRANSPORT, YOUTH)].days_blocked == {"c": 10}


def test_five_cases_one_blocked_again_elsewhere_still_make_a_signal() -> None:
    periods = [p for i in range(4) for p in replay(block(f"c{i}", 20))]
    periods += replay(block("moved", 20), block("moved", 2, (TRANSPORT,)))
    raised = signals(cells(periods, AS_OF), k=5)
    assert [(s.blocker, s.case_count) for s in raised.values()] == [(WAIT, 5)]


def test_the_same_blocker_and_domain_blocked_again_adds_up_its_days_once() -> None:
    periods = replay(block("c", 40, refused_by=("caw",)), block("c", 10, refused_by=("ocmw",)))
    stats = cells(periods, AS_OF)[(ANT, WAIT, YOUTH)]
    assert stats.cases == {"c"}
    assert stats.days_blocked == {"c": 40}  # 30 + 10, the whole time it was blocked
    assert dict(stats.refusals) == {
        "caw": {"c"},
        "ocmw": {"c"},
    }


def test_a_case_counts_once_per_cell_however_many_periods_and_routes() -> None:
    periods = [
        period("c", 100, 80, refusals=("youth_care", "youth_care")),
        period("c", 50, refusals=("youth_care",)),
    ]
    stats = cells(periods, AS_OF)[(ANT, WAIT, YOUTH)]
    assert stats.cases == {"c"}
    assert stats.refusals["youth_care"] == {"c"}


def test_the_window_is_inclusive_and_the_window_before_is_counted_apart() -> None:
    periods = [
        period("edge", 300, 180),  # unblocked on the window's first day: counts
        period("gone", 300, 181),  # unblocked the day before: only the window before
        period("long", 400),  # blocked all along: both windows
        period("old", 400, 361),  # unblocked before both windows: nowhere
    ]
    stats = cells(periods, AS_OF)[(ANT, WAIT, YOUTH)]
    assert stats.cases == {"edge", "long"}
    assert stats.previous == {"edge", "gone", "long"}


def test_the_age_band_is_that_of_the_latest_period_in_any_order() -> None:
    periods = [
        period("c", 100, 60, band=AgeBand.b12_17),
        period("c", 60, band=AgeBand.b18_plus),
    ]
    for ordered in (periods, periods[::-1]):
        assert cells(ordered, AS_OF)[(ANT, WAIT, YOUTH)].age_bands == {"c": AgeBand.b18_plus}


def test_cells_keep_provinces_apart() -> None:
    periods = [period("a", 10), period("b", 10, province=LIM)]
    found = cells(periods, AS_OF)
    assert found[(ANT, WAIT, YOUTH)].cases == {"a"}
    assert found[(LIM, WAIT, YOUTH)].cases == {"b"}
