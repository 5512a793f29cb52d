"""The handover state machine as a table (SPEC section 6), and properties over random actions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.handover.workflow import (
    TERMINAL,
    TRANSITIONS,
    Action,
    Actor,
    Status,
    TransitionRefused,
    next_steps,
    responsible,
    transition,
)

HAPPY_PATH = [
    (Action.consent, Actor.sender, Status.consented),
    (Action.offer, Actor.sender, Status.offered),
    (Action.accept, Actor.partner, Status.accepted),
    (Action.meeting, Actor.partner, Status.meeting_scheduled),
    (Action.start, Actor.partner, Status.started),
    (Action.complete, Actor.partner, Status.completed),
]


def test_the_happy_path_of_the_spec() -> None:
    status = Status.proposed
    for action, actor, expected in HAPPY_PATH:
        status = transition(status, action, actor)
        assert status is expected


def test_the_sender_is_responsible_until_the_partner_confirms_the_start() -> None:
    status = Status.proposed
    seen = [(status, responsible(status))]
    for action, actor, _ in HAPPY_PATH:
        status = transition(status, action, actor)
        seen.append((status, responsible(status)))
    assert [s for s, who in seen if who is Actor.sender] == [
        Status.proposed,
        Status.consented,
        Status.offered,
        Status.accepted,
        Status.meeting_scheduled,
    ]
    assert [s for s, who in seen if who is Actor.partner] == [Status.started, Status.completed]


@pytest.mark.parametrize(
    ("status", "action"),
    [(s, a) for s, a in itertools.product(Status, Action) if (s, a) not in TRANSITIONS],
)
def test_every_other_transition_is_refused_with_the_allowed_steps(
    status: Status, action: Action
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(status, action, Actor.sender)
    message = str(refused.value)
    assert "allowed next steps:" in message
    for allowed, _ in next_steps(status):
        assert allowed.value in message


def test_no_offer_without_consent_and_partners_act_only_where_the_table_says() -> None:
    with pytest.raises(TransitionRefused):
        transition(Status.proposed, Action.offer, Actor.sender)
    with pytest.raises(TransitionRefused, match="a partner may not consent"):
        transition(Status.proposed, Action.consent, Actor.partner)
    with pytest.raises(TransitionRefused, match="a sender may not accept"):
        transition(Status.offered, Action.accept, Actor.sender)
    assert transition(Status.declined, Action.consent, Actor.sender) is Status.consented


def test_terminal_states_have_no_way_out() -> None:
    for status in TERMINAL:
        assert next_steps(status) == []


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(list(Action)), st.sampled_from(list(Actor))), max_size=40)
)
def test_random_actions_never_reach_a_state_the_table_forbids(
    steps: list[tuple[Action, Actor]],
) -> None:
    status = Status.proposed
    consented_since_offer = False
    for action, actor in steps:
        try:
            after = transition(status, action, actor)
        except TransitionRefused:
            continue
        assert (status, action) in TRANSITIONS
        assert actor in TRANSITIONS[(status, action)][1]
        assert after is TRANSITIONS[(status, action)][0]
        if action is Action.consent:
            consented_since_offer = True
        if after is Status.offered:
            assert consented_since_offer, "an offer without consent"
            consented_since_offer = False
        if after is Status.started:
            assert status is Status.meeting_scheduled  # no start without the joint meeting
        status = after


def test_webhook_retries_last_more_than_a_day_with_jitter() -> None:
    import random

    from services.handover.webhooks import next_wait
    from shared.settings import Settings

    schedule = Settings().webhook_retry_seconds
    rng = random.Random(7)
    waits = []
    attempts = 1
    while (wait := next_wait(attempts, schedule, rng)) is not None:
        waits.append(wait)
        attempts += 1
    assert sum(waits) > 24 * 3600
    assert waits[0] < 10 < 3600 < waits[-1]  # quick at first, then backing off
    assert all(0.9 * s <= w <= 1.1 * s for w, s in zip(waits, schedule, strict=True))
    assert len({round(w, 6) for w in waits}) == len(waits)  # jittered, not identical
