"""Break rules (SPEC section 5): pure functions of a trajectory and a date, no clock inside.

Each rule returns the breaks that hold as of a date. A break is identified by a `key` built from
the episodes (or birthday) involved, so that the same break is never opened twice, and a break
that no longer holds is resolved by the change that mended it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from services.cases.trajectory import Episode, Outcome, Trajectory
from shared.domain import LifeDomain, age_on


class Rule(StrEnum):
    school_gap = "school_gap"
    measure_interrupts_schooling = "measure_interrupts_schooling"
    support_ended_without_followup = "support_ended_without_followup"
    repeated_exclusion = "repeated_exclusion"
    transition_without_plan = "transition_without_plan"
    no_key_worker = "no_key_worker"


SEVERITY = {
    Rule.school_gap: "critical",
    Rule.measure_interrupts_schooling: "critical",
    Rule.support_ended_without_followup: "warning",
    Rule.repeated_exclusion: "warning",
    Rule.transition_without_plan: "warning",
    Rule.no_key_worker: "warning",
}
# Rules whose break only a case worker closes; the data cannot mend them.
CLOSED_BY_CASE_WORKER = frozenset({Rule.repeated_exclusion})

MEASURE_WINDOW = timedelta(days=14)
FOLLOWUP_WINDOW = timedelta(days=30)
EXCLUSION_WINDOW = timedelta(days=365)
TRANSITION_NOTICE = timedelta(days=60)
KEY_WORKER_GRACE = timedelta(days=14)
TRANSITION_AGES = (3, 6, 12, 18)
SCHOOL_AGES = range(5, 18)
ENDS_WITHOUT_FOLLOWUP = frozenset({Outcome.interrupted, Outcome.dropped_out})


@dataclass(frozen=True)
class Finding:
    """A break that holds: which rule, since when, and the episodes involved."""

    rule: Rule
    key: str
    opened_on: date
    domain: LifeDomain | None
    episode_ids: tuple[str, ...]

    @property
    def severity(self) -> str:
        return SEVERITY[self.rule]


def _schooling_continues(t: Trajectory, ended: Episode, as_of: date) -> bool:
    """Another education episode, started by `as_of`, runs on the day after `ended` ends
    or starts after it: the gap is covered or mended."""
    assert ended.end_date is not None
    day_after = ended.end_date + timedelta(days=1)
    return any(
        other.is_education
        and other.id != ended.id
        and other.start_date <= as_of
        and (other.end_date is None or other.end_date >= day_after)
        for other in t.episodes
    )


def school_gap(t: Trajectory, as_of: date) -> list[Finding]:
    """Aged 5 to 17, an education episode ended and no other is active the next day."""
    found = []
    for episode in t.episodes:
        if not episode.is_education or episode.end_date is None:
            continue
        day_after = episode.end_date + timedelta(days=1)
        if day_after > as_of or age_on(t.birth_date, day_after) not in SCHOOL_AGES:
            continue
        if not _schooling_continues(t, episode, as_of):
            found.append(
                Finding(
                    Rule.school_gap,
                    f"school_gap:{episode.id}",
                    day_after,
                    LifeDomain.school,
                    (episode.id,),
                )
            )
    return found


def measure_interrupts_schooling(t: Trajectory, as_of: date) -> list[Finding]:
    """A residential, crisis or closed measure, or a hospitalisation, starts within 14 days of
    an education episode ending other than `completed`."""
    found = []
    for ended in t.episodes:
        if not ended.is_education or ended.end_date is None or ended.outcome is None:
            continue
        if ended.outcome is Outcome.completed:
            continue
        for measure in t.episodes:
            if not measure.interrupts_daily_life:
                continue
            if abs(measure.start_date - ended.end_date) > MEASURE_WINDOW:
                continue
            since = max(measure.start_date, ended.end_date)
            if since > as_of or _schooling_continues(t, ended, as_of):
                continue
            found.append(
                Finding(
                    Rule.measure_interrupts_schooling,
                    f"measure_interrupts_schooling:{ended.id}:{measure.id}",
                    since,
                    LifeDomain.school,
                    (ended.id, measure.id),
                )
            )
    return found


def support_ended_without_followup(t: Trajectory, as_of: date) -> list[Finding]:
    """A support outside school ends interrupted or dropped out, and nothing starts in its
    domain within 30 days."""
    found = []
    for ended in t.episodes:
        if ended.domain is LifeDomain.school or ended.end_date is None:
            continue
        if ended.outcome not in ENDS_WITHOUT_FOLLOWUP:
            continue
        deadline = ended.end_date + FOLLOWUP_WINDOW
        if deadline > as_of:
            continue
        # Followed up: something in the domain started on or after the end, or a support
        # already running there goes on after it.
        followed_up = any(
            other.domain is ended.domain
            and other.id != ended.id
            and other.start_date <= as_of
            and (
                other.start_date >= ended.end_date
                or other.end_date is None
                or other.end_date > ended.end_date
            )
            for other in t.episodes
        )
        if not followed_up:
            found.append(
                Finding(
                    Rule.support_ended_without_followup,
                    f"support_ended_without_followup:{ended.id}",
                    deadline,
                    ended.domain,
                    (ended.id,),
                )
            )
    return found


def repeated_exclusion(t: Trajectory, as_of: date) -> list[Finding]:
    """A second exclusion starts within 365 days of another."""
    exclusions = sorted(
        (e for e in t.episodes if e.is_exclusion and e.start_date <= as_of),
        key=lambda e: (e.start_date, e.id),
    )
    found = []
    for i, later in enumerate(exclusions):
        earlier = next(
            (e for e in exclusions[:i] if later.start_date - e.start_date <= EXCLUSION_WINDOW),
            None,
        )
        if earlier is not None:
            found.append(
                Finding(
                    Rule.repeated_exclusion,
                    f"repeated_exclusion:{later.id}",
                    later.start_date,
                    LifeDomain.school,
                    (earlier.id, later.id),
                )
            )
    return found


def birthday(birth_date: date, age: int) -> date:
    """The day one turns `age` (29 February birthdays fall on 1 March in common years)."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return date(birth_date.year + age, 3, 1)


def transition_without_plan(t: Trajectory, as_of: date) -> list[Finding]:
    """Within 60 days the young person turns 3, 6, 12 or 18, and no education or work episode
    starts on or after that birthday. Only transitions the case was open for count."""
    found = []
    for age in TRANSITION_AGES:
        day = birthday(t.birth_date, age)
        notice = day - TRANSITION_NOTICE
        if notice > as_of or day < t.opened_on:
            continue
        planned = any((e.is_education or e.is_work) and e.start_date >= day for e in t.episodes)
        if not planned:
            found.append(
                Finding(
                    Rule.transition_without_plan, f"transition_without_plan:{age}", notice, None, ()
                )
            )
    return found


def no_key_worker(t: Trajectory, as_of: date) -> list[Finding]:
    """An open case has had no key worker for 14 days."""
    since = t.opened_on + KEY_WORKER_GRACE
    if t.has_key_worker or since > as_of:
        return []
    return [Finding(Rule.no_key_worker, "no_key_worker", since, None, ())]


RULES: dict[Rule, Callable[[Trajectory, date], list[Finding]]] = {
    Rule.school_gap: school_gap,
    Rule.measure_interrupts_schooling: measure_interrupts_schooling,
    Rule.support_ended_without_followup: support_ended_without_followup,
    Rule.repeated_exclusion: repeated_exclusion,
    Rule.transition_without_plan: transition_without_plan,
    Rule.no_key_worker: no_key_worker,
}


def evaluate(t: Trajectory, as_of: date) -> list[Finding]:
    """Every break that holds as of `as_of` (none for a closed case)."""
    if t.closed:
        return []
    return [finding for rule in RULES.values() for finding in rule(t, as_of)]


@dataclass(frozen=True)
class KnownBreak:
    """A break already recorded for the case."""

    key: str
    rule: Rule
    opened_on: date
    is_open: bool


@dataclass(frozen=True)
class Reconciliation:
    to_open: list[Finding]
    to_resolve: list[KnownBreak]


def reconcile(known: Iterable[KnownBreak], t: Trajectory, as_of: date) -> Reconciliation:
    """What changes as of `as_of`: breaks that hold and were never recorded open; open breaks
    that no longer hold resolve.

    A key once recorded is never opened again. An open break dated after `as_of` (found by a
    sweep ahead of time) is checked as of its own date, so only a mend resolves it, not the
    calendar. A break that only a case worker closes stays open unless the case closes.
    """
    known = list(known)
    findings = evaluate(t, as_of)
    recorded = {k.key for k in known}
    holding = {f.key for f in findings}
    for later in sorted({k.opened_on for k in known if k.is_open and k.opened_on > as_of}):
        holding |= {f.key for f in evaluate(t, later)}
    to_open = [f for f in findings if f.key not in recorded]
    to_resolve = [
        k
        for k in known
        if k.is_open and k.key not in holding and (t.closed or k.rule not in CLOSED_BY_CASE_WORKER)
    ]
    return Reconciliation(to_open, to_resolve)
