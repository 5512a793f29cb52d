"""From blocked cases to policy signals (SPEC section 7): pure functions, no I/O, no clock.

A cell is (province, blocker, domain). A case counts in a cell when one of its blocked periods
with that blocker and domain overlaps the window (default 180 days before `as_of`). A cell with
at least k distinct cases is a signal. Every count is of distinct cases (a case counts once
however many periods or routes it has), every published count below k is suppressed, and more
counts are suppressed where subtraction from a published total would reveal one.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.signals.sectors import Sector, sector_of
from shared.domain import AgeBand, Blocker, LifeDomain, Province

WINDOW = timedelta(days=180)
FLEMISH_PROVINCES = 3
SIGNAL_IDS = uuid.UUID("2b5c0a8e-7e53-4c55-9a3c-4f3f0e61c0de")

Cell = tuple[Province, Blocker, LifeDomain]


@dataclass(frozen=True)
class BlockedPeriod:
    """One time a case was blocked: where, why, in which domains, and for how long."""

    case_id: str
    province: Province
    age_band: AgeBand
    blockers: tuple[Blocker, ...]
    domains: tuple[LifeDomain, ...]
    refusals: tuple[str, ...]  # the kind of each provider that said no
    blocked_on: date
    unblocked_on: date | None = None

    def overlaps(self, start: date, end: date) -> bool:
        """Blocked at some day in [start, end]."""
        return self.blocked_on <= end and (self.unblocked_on is None or self.unblocked_on >= start)


@dataclass
class CellStats:
    """Case ids per cell, never published: every figure of a signal is derived from sets of
    distinct cases, so that a count >= k always means k different cases."""

    cases: set[str] = field(default_factory=set)
    previous: set[str] = field(default_factory=set)
    days_blocked: dict[str, int] = field(default_factory=dict)
    age_bands: dict[str, AgeBand] = field(default_factory=dict)
    refusals: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    latest: dict[str, tuple[date, date, str]] = field(default_factory=dict)  # band's period


def signal_id(cell: Cell) -> str:
    """The same cell is always the same signal, live or rebuilt."""
    province, blocker, domain = cell
    return str(uuid.uuid5(SIGNAL_IDS, f"{province.value}/{blocker.value}/{domain.value}"))


def cells(
    periods: Iterable[BlockedPeriod], as_of: date, window: timedelta = WINDOW
) -> dict[Cell, CellStats]:
    """Distinct cases per cell in the window, and in the window before it.

    A case's days blocked in a cell add up over its periods in the window (a block while
    blocked splits a period in two; the parts add up to the whole). Its age band is that of its
    latest period, whatever order the periods come in, so live and rebuilt states agree."""
    start, previous_start = as_of - window, as_of - 2 * window
    stats: dict[Cell, CellStats] = defaultdict(CellStats)
    for period in periods:
        now = period.overlaps(start, as_of)
        before = period.overlaps(previous_start, start - timedelta(days=1))
        if not (now or before):
            continue
        case = period.case_id
        end = min(period.unblocked_on or as_of, as_of)
        days = max((end - period.blocked_on).days, 0)
        order = (period.blocked_on, period.unblocked_on or date.max, period.age_band.value)
        for blocker in period.blockers:
            for domain in period.domains:
                cell = stats[(period.province, blocker, domain)]
                if before:
                    cell.previous.add(case)
                if not now:
                    continue
                cell.cases.add(case)
                cell.days_blocked[case] = cell.days_blocked.get(case, 0) + days
                if case not in cell.latest or order > cell.latest[case]:
                    cell.latest[case], cell.age_bands[case] = order, period.age_band
                for kind in period.refusals:
                    cell.refusals[kind].add(case)
    return dict(stats)


@dataclass(frozen=True)
class Count:
    value: int | None
    suppressed: bool


def shown(n: int, k: int) -> Count:
    return Count(None, True) if n < k else Count(n, False)


def protect(counts: dict[str, int], k: int) -> dict[str, Count]:
    """Counts that add up to a published total (itself >= k): each below k is suppressed, and
    if what is suppressed adds up to less than k (so the total minus the rest would reveal it),
    the smallest published counts are suppressed too, until it does not. Then at least two
    counts are hidden, together >= k: each could be 0, each could be k or more."""
    hidden = {key for key, n in counts.items() if n < k}
    if hidden:
        for key, _n in sorted(counts.items(), key=lambda kv: (kv[1], kv[0])):
            if sum(counts[h] for h in hidden) >= k or len(hidden) == len(counts):
                break
            if key not in hidden:
                hidden.add(key)
    return {
        key: Count(None, True) if key in hidden else Count(n, False) for key, n in counts.items()
    }


def refusals_shown(by_kind: dict[str, set[str]], k: int) -> dict[str, Count]:
    """How many distinct cases each kind of provider said no to, for the kinds that said no to
    at least k of them. The others are left out rather than shown suppressed: these counts add
    up to no published total (a case may be refused by several kinds, or by none), so there is
    nothing to subtract from, and an absent kind may as well be one that never said no."""
    return {
        kind: Count(len(cases), False) for kind, cases in sorted(by_kind.items()) if len(cases) >= k
    }


@dataclass(frozen=True)
class Signal:
    """What leaves the service: aggregates only, no case id, person ref or single-case date."""

    id: str
    province: Province
    blocker: Blocker
    domain: LifeDomain
    level: str
    sector: Sector
    case_count: int
    previous_count: Count
    trend: str
    median_days_blocked: float
    age_bands: dict[str, Count]
    refusals_by_provider_kind: dict[str, Count]


def signals(stats: dict[Cell, CellStats], k: int) -> dict[str, Signal]:
    """Every cell with at least k distinct cases, with its level and sector."""
    raised = {cell: s for cell, s in stats.items() if len(s.cases) >= k}
    provinces_by_blocker: dict[Blocker, set[Province]] = defaultdict(set)
    for province, blocker, _ in raised:
        provinces_by_blocker[blocker].add(province)
    result = {}
    for cell, s in raised.items():
        province, blocker, domain = cell
        count, previous = len(s.cases), len(s.previous)
        bands = Counter(s.age_bands.values())
        result[signal_id(cell)] = Signal(
            id=signal_id(cell),
            province=province,
            blocker=blocker,
            domain=domain,
            level="flemish"
            if len(provinces_by_blocker[blocker]) >= FLEMISH_PROVINCES
            else "regional",
            sector=sector_of(blocker, domain),
            case_count=count,
            previous_count=shown(previous, k),
            trend="up" if count > previous else "down" if count < previous else "stable",
            median_days_blocked=float(statistics.median(s.days_blocked.values())),
            age_bands=protect({band.value: bands.get(band, 0) for band in AgeBand}, k),
            refusals_by_provider_kind=refusals_shown(s.refusals, k),
        )
    return result
