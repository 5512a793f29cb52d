"""The warm handover as a table (SPEC section 6): states, actions, who may act, what is next.

Pure: no I/O, no clock. Every transition not in the table is refused with the allowed next
steps, so a partner or case worker always learns what they can do instead.
"""

from __future__ import annotations

from enum import StrEnum

from shared.domain import HANDOVER_ON_THE_BRIDGE


class Status(StrEnum):
    proposed = "proposed"
    consented = "consented"
    offered = "offered"
    accepted = "accepted"
    meeting_scheduled = "meeting_scheduled"
    started = "started"
    completed = "completed"
    declined = "declined"
    expired = "expired"
    interrupted = "interrupted"
    withdrawn = "withdrawn"  # consent withdrawn before the start: all sharing stops
    cancelled = "cancelled"  # the case closed before an offer


class Action(StrEnum):
    consent = "consent"
    offer = "offer"
    accept = "accept"
    decline = "decline"
    expire = "expire"
    meeting = "meeting"
    start = "start"
    complete = "complete"
    interrupt = "interrupt"
    withdraw_consent = "withdraw_consent"
    cancel = "cancel"


class Actor(StrEnum):
    sender = "sender"  # a case worker of the sending organisation
    partner = "partner"  # the receiving partner the handover is offered to
    system = "system"  # brug itself: expiry, a closed case


S, A = Status, Action
# (state, action) -> (next state, who may take it)
TRANSITIONS: dict[tuple[Status, Action], tuple[Status, frozenset[Actor]]] = {
    (S.proposed, A.consent): (S.consented, frozenset({Actor.sender})),
    (S.declined, A.consent): (S.consented, frozenset({Actor.sender})),
    (S.expired, A.consent): (S.consented, frozenset({Actor.sender})),
    (S.consented, A.offer): (S.offered, frozenset({Actor.sender})),
    (S.offered, A.accept): (S.accepted, frozenset({Actor.partner})),
    (S.offered, A.decline): (S.declined, frozenset({Actor.partner})),
    (S.offered, A.expire): (S.expired, frozenset({Actor.system})),
    (S.accepted, A.meeting): (S.meeting_scheduled, frozenset({Actor.partner, Actor.sender})),
    (S.meeting_scheduled, A.meeting): (
        S.meeting_scheduled,
        frozenset({Actor.partner, Actor.sender}),
    ),
    (S.meeting_scheduled, A.start): (S.started, frozenset({Actor.partner})),
    (S.started, A.complete): (S.completed, frozenset({Actor.partner})),
    (S.started, A.interrupt): (S.interrupted, frozenset({Actor.partner})),
    **{
        (state, A.withdraw_consent): (S.withdrawn, frozenset({Actor.sender}))
        for state in (S.consented, S.offered, S.accepted, S.meeting_scheduled)
    },
    # After the start the handover goes on, but sharing stops.
    (S.started, A.withdraw_consent): (S.started, frozenset({Actor.sender})),
    **{
        (state, A.cancel): (S.cancelled, frozenset({Actor.sender, Actor.system}))
        for state in (S.proposed, S.consented, S.declined, S.expired)
    },
}

TERMINAL = frozenset({S.completed, S.interrupted, S.withdrawn, S.cancelled})
# Between the offer and the start, a case cannot be closed: someone is on the bridge.
ON_THE_BRIDGE = frozenset(Status(s) for s in HANDOVER_ON_THE_BRIDGE)
# The sender stays responsible until the partner confirms the start: that makes it warm.
PARTNER_RESPONSIBLE = frozenset({S.started, S.completed, S.interrupted})
# Events published per action (the handover.<name> types of SPEC section 1).
EVENT_OF: dict[Action, str] = {
    A.consent: "handover.consented",
    A.offer: "handover.offered",
    A.accept: "handover.accepted",
    A.decline: "handover.declined",
    A.expire: "handover.expired",
    A.meeting: "handover.meeting_scheduled",
    A.start: "handover.started",
    A.complete: "handover.completed",
    A.interrupt: "handover.interrupted",
    A.withdraw_consent: "handover.consent_withdrawn",
    A.cancel: "handover.cancelled",
}


class TransitionRefused(Exception):
    """Not allowed from this state, or not by this actor; says what is allowed instead."""

    def __init__(self, status: Status, action: Action, actor: Actor) -> None:
        self.status, self.action, self.actor = status, action, actor
        allowed = next_steps(status)
        steps = ", ".join(f"{a.value} ({' or '.join(sorted(w))})" for a, w in allowed) or "none"
        reason = (
            f"a {actor.value} may not {action.value} a handover that is {status.value}"
            if (status, action) in TRANSITIONS
            else f"cannot {action.value} a handover that is {status.value}"
        )
        super().__init__(f"{reason}; allowed next steps: {steps}")


def next_steps(status: Status) -> list[tuple[Action, frozenset[Actor]]]:
    """What may happen next from `status`, and who may do it."""
    return [(action, who) for (state, action), (_, who) in TRANSITIONS.items() if state == status]


def transition(status: Status, action: Action, actor: Actor) -> Status:
    """The state after `action` by `actor`, or TransitionRefused."""
    found = TRANSITIONS.get((status, action))
    if found is None or actor not in found[1]:
        raise TransitionRefused(status, action, actor)
    return found[0]


def responsible(status: Status) -> Actor:
    """Who answers for the young person now."""
    return Actor.partner if status in PARTNER_RESPONSIBLE else Actor.sender
