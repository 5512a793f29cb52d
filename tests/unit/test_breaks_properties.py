"""Properties of the break rules over random trajectories (hypothesis).

1. No rule reports a break that its own definition (restated here from SPEC section 5, in the
   plainest words) denies.
2. Replaying a case's history step by step (each change evaluated on its day) opens only
   breaks that hold at the end or were mended on the way, and replaying it again rebuilds
   exactly the same breaks.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.cases.breaks import Finding, KnownBreak, Rule, birthday, evaluate, reconcile
from services.cases.trajectory import KINDS, Episode, Outcome, Trajectory
from shared.domain import LifeDomain, age_on

BASE = date(2024, 1, 1)
day = st.integers(min_value=0, max_value=900).map(lambda n: BASE + timedelta(days=n))
domain_kind = st.sampled_from(
    [(d, k) for d, kinds in KINDS.items() for k in sorted(kinds)]
    + [(LifeDomain.school, "enrollment")] * 6  # schooling is the common case
)


@st.composite
def episodes(draw: st.DrawFn) -> Episode:
    domain, kind = draw(domain_kind)
    start = draw(day)
    ended = draw(st.booleans())
    end = start + timedelta(days=draw(st.integers(0, 400))) if ended else None
    outcome = draw(st.sampled_from(list(Outcome))) if ended else None
    return Episode(draw(st.uuids()).hex[:8], domain, kind, start, end, outcome)


@st.composite
def trajectories(draw: st.DrawFn) -> Trajectory:
    birth = BASE - timedelta(days=draw(st.integers(2 * 365, 20 * 365)))
    return Trajectory(
        birth,
        BASE + timedelta(days=draw(st.integers(0, 200))),
        tuple(draw(st.lists(episodes(), max_size=8))),
        has_key_worker=draw(st.booleans()),
    )


def active(e: Episode, d: date) -> bool:
    return e.start_date <= d and (e.end_date is None or e.end_date >= d)


def holds(f: Finding, t: Trajectory, as_of: date) -> bool:
    """The SPEC's sentence for each rule, checked directly."""
    by_id = {e.id: e for e in t.episodes}
    if f.rule is Rule.school_gap:
        (e,) = (by_id[i] for i in f.episode_ids)
        assert e.end_date is not None
        nxt = e.end_date + timedelta(days=1)
        others_started = [
            o for o in t.episodes if o.is_education and o.id != e.id and o.start_date <= as_of
        ]
        return (
            e.is_education
            and 5 <= age_on(t.birth_date, nxt) <= 17
            and nxt <= as_of
            and not any(active(o, nxt) for o in others_started)
            and not any(o.start_date > e.end_date for o in others_started)
        )
    if f.rule is Rule.measure_interrupts_schooling:
        e, m = (by_id[i] for i in f.episode_ids)
        assert e.end_date is not None
        return (
            e.is_education
            and e.outcome is not Outcome.completed
            and m.interrupts_daily_life
            and abs((m.start_date - e.end_date).days) <= 14
            and max(m.start_date, e.end_date) <= as_of
        )
    if f.rule is Rule.support_ended_without_followup:
        (e,) = (by_id[i] for i in f.episode_ids)
        assert e.end_date is not None
        return (
            e.domain is not LifeDomain.school
            and e.outcome in (Outcome.interrupted, Outcome.dropped_out)
            and e.end_date + timedelta(days=30) <= as_of
            and not any(
                o.domain is e.domain and o.id != e.id and e.end_date <= o.start_date <= as_of
                for o in t.episodes
            )
        )
    if f.rule is Rule.repeated_exclusion:
        a, b = (by_id[i] for i in f.episode_ids)
        return (
            a.is_exclusion
            and b.is_exclusion
            and a.id != b.id
            and 0 <= (b.start_date - a.start_date).days <= 365
            and b.start_date <= as_of
        )
    if f.rule is Rule.transition_without_plan:
        age = int(f.key.rsplit(":", 1)[1])
        turns = birthday(t.birth_date, age)
        return (
            age in (3, 6, 12, 18)
            and turns - timedelta(days=60) <= as_of
            and not any((e.is_education or e.is_work) and e.start_date >= turns for e in t.episodes)
        )
    if f.rule is Rule.no_key_worker:
        return not t.has_key_worker and t.opened_on + timedelta(days=14) <= as_of
    raise AssertionError(f"unknown rule {f.rule}")


@settings(max_examples=int(os.environ.get("BRUG_HYPOTHESIS_EXAMPLES", "400")), deadline=None)
@given(trajectories(), day)
def test_no_rule_reports_a_break_its_definition_denies(t: Trajectory, as_of: date) -> None:
    for finding in evaluate(t, as_of):
        assert holds(finding, t, as_of), finding


def replay(t: Trajectory) -> dict[str, tuple[bool, date]]:
    """The history of `t` as it happened: each episode added on its start day and ended on
    its end day, breaks settled after every step. Returns key -> (open, opened_on)."""
    steps: list[tuple[date, int, Episode]] = []
    for e in t.episodes:
        steps.append((e.start_date, 0, Episode(e.id, e.domain, e.kind, e.start_date)))
        if e.end_date is not None:
            steps.append((e.end_date, 1, e))
    steps.sort(key=lambda s: (s[0], s[1], s[2].id))
    current: dict[str, Episode] = {}
    known: dict[str, KnownBreak] = {}
    for when, _, episode in steps:
        current[episode.id] = episode
        now = Trajectory(
            t.birth_date, t.opened_on, tuple(current.values()), has_key_worker=t.has_key_worker
        )
        change = reconcile(known.values(), now, when)
        for f in change.to_open:
            known[f.key] = KnownBreak(f.key, f.rule, f.opened_on, True)
        for k in change.to_resolve:
            known[k.key] = KnownBreak(k.key, k.rule, k.opened_on, False)
    return {k: (b.is_open, b.opened_on) for k, b in known.items()}


@settings(max_examples=int(os.environ.get("BRUG_HYPOTHESIS_EXAMPLES", "300")), deadline=None)
@given(trajectories())
def test_replaying_a_history_rebuilds_the_same_breaks(t: Trajectory) -> None:
    """Settled step by step as the history happened, or evaluated once at its end, a case ends
    with the same open breaks: the order in which events arrive changes nothing."""
    step_by_step = replay(t)
    if not t.episodes:
        assert step_by_step == {}
        return
    last = max(max(e.start_date, e.end_date or e.start_date) for e in t.episodes)
    at_once = {f.key for f in evaluate(t, last)}
    still_open = {key for key, (is_open, _) in step_by_step.items() if is_open}
    assert still_open == at_once
    reversed_order = Trajectory(
        t.birth_date, t.opened_on, tuple(reversed(t.episodes)), has_key_worker=t.has_key_worker
    )
    assert replay(reversed_order) == step_by_step
