"""The six break rules, each told as small stories (SPEC section 5). Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import date, timedelta

from services.cases.breaks import (
    KnownBreak,
    Rule,
    evaluate,
    measure_interrupts_schooling,
    no_key_worker,
    reconcile,
    repeated_exclusion,
    school_gap,
    support_ended_without_followup,
    transition_without_plan,
)
from services.cases.trajectory import Episode, Outcome, Trajectory
from shared.domain import LifeDomain as D

DAY = timedelta(days=1)


def ep(
    id: str,
    domain: D,
    kind: str,
    start: date,
    end: date | None = None,
    outcome: Outcome | None = None,
) -> Episode:
    return Episode(id, domain, kind, start, end, outcome)


def story(
    birth: date, *episodes: Episode, opened: date = date(2020, 1, 1), key_worker: bool = True
) -> Trajectory:
    return Trajectory(birth, opened, tuple(episodes), has_key_worker=key_worker)


def rules(findings: list) -> list[Rule]:  # type: ignore[type-arg]
    return sorted(f.rule for f in findings)


class TestRepeatedExclusion:
    def test_the_eight_year_old_excluded_twice_before_the_summer(self) -> None:
        t = story(
            date(2018, 2, 1),
            ep("enr", D.school, "enrollment", date(2025, 9, 1)),
            ep(
                "ex1",
                D.school,
                "temporary_exclusion",
                date(2026, 2, 10),
                date(2026, 2, 14),
                Outcome.completed,
            ),
            ep(
                "ex2",
                D.school,
                "temporary_exclusion",
                date(2026, 6, 2),
                date(2026, 6, 5),
                Outcome.completed,
            ),
        )
        assert repeated_exclusion(t, date(2026, 6, 1)) == []  # the second has not started yet
        [finding] = repeated_exclusion(t, date(2026, 6, 2))
        assert finding.opened_on == date(2026, 6, 2)
        assert finding.episode_ids == ("ex1", "ex2")
        assert finding.severity == "warning"

    def test_exclusions_more_than_a_year_apart_are_not_repeated(self) -> None:
        t = story(
            date(2012, 1, 1),
            ep("ex1", D.school, "temporary_exclusion", date(2024, 1, 10)),
            ep("ex2", D.school, "definitive_exclusion", date(2025, 1, 11)),
        )
        assert repeated_exclusion(t, date(2026, 1, 1)) == []

    def test_only_a_case_worker_closes_it(self) -> None:
        known = [
            KnownBreak(
                "repeated_exclusion:ex2", Rule.repeated_exclusion, date(2026, 6, 2), is_open=True
            )
        ]
        nothing_left = story(date(2018, 2, 1))  # even if the episodes were gone
        assert reconcile(known, nothing_left, date(2027, 1, 1)).to_resolve == []
        closed = Trajectory(date(2018, 2, 1), date(2020, 1, 1), (), closed=True)
        assert reconcile(known, closed, date(2027, 1, 1)).to_resolve == known


class TestMeasureInterruptsSchooling:
    birth = date(2012, 3, 3)  # 14 in 2026

    def test_placed_in_residential_care_the_week_her_enrolment_ended(self) -> None:
        t = story(
            self.birth,
            ep(
                "enr",
                D.school,
                "enrollment",
                date(2025, 9, 1),
                date(2026, 3, 6),
                Outcome.interrupted,
            ),
            ep("res", D.youth_care, "residential", date(2026, 3, 11)),
        )
        [finding] = measure_interrupts_schooling(t, date(2026, 3, 11))
        assert finding.opened_on == date(2026, 3, 11)
        assert finding.severity == "critical"
        assert set(finding.episode_ids) == {"enr", "res"}
        assert rules(evaluate(t, date(2026, 3, 11))) == [
            Rule.measure_interrupts_schooling,
            Rule.school_gap,
        ]

    def test_resolved_when_an_education_episode_starts(self) -> None:
        t = story(
            self.birth,
            ep(
                "enr",
                D.school,
                "enrollment",
                date(2025, 9, 1),
                date(2026, 3, 6),
                Outcome.interrupted,
            ),
            ep("res", D.youth_care, "residential", date(2026, 3, 11)),
            ep("naft", D.school, "naft", date(2026, 4, 20)),
        )
        assert measure_interrupts_schooling(t, date(2026, 4, 19)) != []
        assert measure_interrupts_schooling(t, date(2026, 4, 20)) == []

    def test_a_completed_school_year_or_a_measure_weeks_later_is_no_interruption(self) -> None:
        completed = story(
            self.birth,
            ep(
                "enr",
                D.school,
                "enrollment",
                date(2025, 9, 1),
                date(2026, 6, 30),
                Outcome.completed,
            ),
            ep("hosp", D.health, "hospitalisation", date(2026, 7, 2)),
        )
        later = story(
            self.birth,
            ep(
                "enr",
                D.school,
                "enrollment",
                date(2025, 9, 1),
                date(2026, 3, 6),
                Outcome.dropped_out,
            ),
            ep("jus", D.justice, "measure", date(2026, 3, 21)),
        )
        ambulatory = story(
            self.birth,
            ep(
                "enr",
                D.school,
                "enrollment",
                date(2025, 9, 1),
                date(2026, 3, 6),
                Outcome.dropped_out,
            ),
            ep("amb", D.youth_care, "ambulatory", date(2026, 3, 7)),
        )
        for t in (completed, later, ambulatory):
            assert measure_interrupts_schooling(t, date(2026, 8, 1)) == []


class TestSchoolGap:
    def test_a_ten_year_old_with_no_school_the_day_after(self) -> None:
        t = story(
            date(2016, 5, 5),
            ep("enr", D.school, "enrollment", date(2022, 9, 1), date(2026, 10, 9), Outcome.moved),
        )
        assert school_gap(t, date(2026, 10, 9)) == []  # the day after has not come yet
        [finding] = school_gap(t, date(2026, 10, 10))
        assert finding.opened_on == date(2026, 10, 10)
        assert finding.severity == "critical"

    def test_no_gap_when_the_next_school_takes_over_the_next_day(self) -> None:
        t = story(
            date(2016, 5, 5),
            ep("a", D.school, "enrollment", date(2022, 9, 1), date(2026, 10, 9), Outcome.moved),
            ep("b", D.school, "enrollment", date(2026, 10, 10)),
        )
        assert school_gap(t, date(2026, 12, 1)) == []

    def test_resolved_when_an_education_episode_starts(self) -> None:
        t = story(
            date(2016, 5, 5),
            ep("a", D.school, "enrollment", date(2022, 9, 1), date(2026, 10, 9), Outcome.moved),
            ep("b", D.school, "home_education", date(2026, 11, 2)),
        )
        assert school_gap(t, date(2026, 11, 1)) != []
        assert school_gap(t, date(2026, 11, 2)) == []

    def test_only_from_5_to_17(self) -> None:
        for birth in (date(2022, 1, 1), date(2008, 1, 1)):  # 4 and 18 at the end
            t = story(
                birth,
                ep(
                    "a",
                    D.school,
                    "enrollment",
                    date(2025, 9, 1),
                    date(2026, 6, 30),
                    Outcome.completed,
                ),
            )
            assert school_gap(t, date(2026, 8, 1)) == []

    def test_exclusions_are_not_education(self) -> None:
        t = story(
            date(2016, 5, 5),
            ep(
                "a", D.school, "enrollment", date(2022, 9, 1), date(2026, 3, 1), Outcome.interrupted
            ),
            ep("x", D.school, "temporary_exclusion", date(2026, 3, 1)),
        )
        assert [f.rule for f in school_gap(t, date(2026, 3, 5))] == [Rule.school_gap]


class TestSupportEndedWithoutFollowup:
    def test_the_parenting_support_that_stopped_with_nobody_taking_over(self) -> None:
        t = story(
            date(2015, 1, 1),
            ep(
                "ps",
                D.family,
                "parenting_support",
                date(2026, 1, 5),
                date(2026, 4, 1),
                Outcome.interrupted,
            ),
        )
        assert support_ended_without_followup(t, date(2026, 4, 30)) == []  # 29 days
        [finding] = support_ended_without_followup(t, date(2026, 5, 1))
        assert finding.opened_on == date(2026, 5, 1)
        assert finding.domain is D.family

    def test_resolved_when_an_episode_starts_in_that_domain(self) -> None:
        t = story(
            date(2015, 1, 1),
            ep(
                "ps",
                D.family,
                "parenting_support",
                date(2026, 1, 5),
                date(2026, 4, 1),
                Outcome.dropped_out,
            ),
            ep("ps2", D.family, "parenting_support", date(2026, 6, 1)),
        )
        assert support_ended_without_followup(t, date(2026, 5, 31)) != []
        assert support_ended_without_followup(t, date(2026, 6, 1)) == []

    def test_a_follow_up_in_another_domain_or_a_completed_support_is_no_break(self) -> None:
        other_domain = story(
            date(2015, 1, 1),
            ep(
                "ps",
                D.family,
                "parenting_support",
                date(2026, 1, 5),
                date(2026, 4, 1),
                Outcome.interrupted,
            ),
            ep("th", D.health, "therapy", date(2026, 4, 10)),
        )
        completed = story(
            date(2015, 1, 1),
            ep(
                "ps",
                D.family,
                "parenting_support",
                date(2026, 1, 5),
                date(2026, 4, 1),
                Outcome.need_resolved,
            ),
        )
        school = story(
            date(2015, 1, 1),
            ep(
                "e", D.school, "enrollment", date(2025, 9, 1), date(2026, 4, 1), Outcome.dropped_out
            ),
        )
        assert support_ended_without_followup(other_domain, date(2026, 6, 1)) != []
        assert support_ended_without_followup(completed, date(2026, 6, 1)) == []
        assert support_ended_without_followup(school, date(2026, 6, 1)) == []


class TestTransitionWithoutPlan:
    def test_the_boy_turning_12_with_no_secondary_school_chosen(self) -> None:
        birth = date(2014, 8, 20)  # turns 12 on 2026-08-20
        primary = ep(
            "p", D.school, "enrollment", date(2020, 9, 1), date(2026, 6, 30), Outcome.completed
        )
        t = story(birth, primary)
        assert transition_without_plan(t, date(2026, 6, 20)) == []  # 61 days before
        [finding] = transition_without_plan(t, date(2026, 6, 21))
        assert finding.key == "transition_without_plan:12"
        assert finding.opened_on == date(2026, 6, 21)
        planned = story(birth, primary, ep("s", D.school, "enrollment", date(2026, 9, 1)))
        assert transition_without_plan(planned, date(2026, 6, 21)) == []

    def test_turning_18_is_planned_by_work_too(self) -> None:
        birth = date(2008, 12, 1)
        t = story(birth, ep("job", D.work, "training", date(2026, 12, 1)))
        assert transition_without_plan(t, date(2026, 11, 1)) == []
        assert transition_without_plan(story(birth), date(2026, 11, 1)) != []

    def test_transitions_before_the_case_was_opened_do_not_count(self) -> None:
        t = story(date(2014, 8, 20), opened=date(2026, 9, 1))
        assert transition_without_plan(t, date(2026, 9, 2)) == []


class TestNoKeyWorker:
    def test_fourteen_days_without_a_key_worker(self) -> None:
        t = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=False)
        assert no_key_worker(t, date(2026, 3, 14)) == []
        [finding] = no_key_worker(t, date(2026, 3, 15))
        assert finding.opened_on == date(2026, 3, 15)
        with_worker = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=True)
        assert no_key_worker(with_worker, date(2026, 6, 1)) == []


class TestReconcile:
    def test_a_break_is_opened_once_and_resolved_when_it_no_longer_holds(self) -> None:
        t = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=False)
        first = reconcile([], t, date(2026, 4, 1))
        assert [f.key for f in first.to_open] == ["no_key_worker"]
        known = [KnownBreak("no_key_worker", Rule.no_key_worker, date(2026, 3, 15), True)]
        assert reconcile(known, t, date(2026, 4, 2)).to_open == []
        mended_t = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=True)
        assert reconcile(known, mended_t, date(2026, 4, 2)).to_resolve == known
        resolved = [KnownBreak("no_key_worker", Rule.no_key_worker, date(2026, 3, 15), False)]
        assert reconcile(resolved, t, date(2026, 4, 3)).to_open == []  # never reopened

    def test_a_break_found_ahead_of_time_is_resolved_by_a_mend_not_by_the_calendar(
        self,
    ) -> None:
        t = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=False)
        ahead = [KnownBreak("no_key_worker", Rule.no_key_worker, date(2026, 3, 15), True)]
        # evaluated today (before the break's date): it still holds as of its own date
        assert reconcile(ahead, t, date(2026, 3, 2)).to_resolve == []
        mended = story(date(2014, 1, 1), opened=date(2026, 3, 1), key_worker=True)
        assert reconcile(ahead, mended, date(2026, 3, 2)).to_resolve == ahead

    def test_a_closed_case_has_no_breaks(self) -> None:
        t = Trajectory(date(2014, 1, 1), date(2026, 1, 1), (), has_key_worker=False, closed=True)
        assert evaluate(t, date(2026, 6, 1)) == []
