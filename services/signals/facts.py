"""How case events change a case's blocked periods: one pure function, used live (per event)
and by the rebuild (over the whole stream), so both end in the same state."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.signals.aggregate import BlockedPeriod
from shared.events.contracts import CaseBlocked, CaseClosed, CaseUnblocked, Payload


def next_periods(periods: list[BlockedPeriod], event: Payload) -> list[BlockedPeriod]:
    """The case's periods after `event`. A block while blocked updates the open period (the
    case stayed blocked); unblocking or closing ends it."""
    open_ = [p for p in periods if p.unblocked_on is None]
    closed = [p for p in periods if p.unblocked_on is not None]
    if isinstance(event, CaseBlocked):
        refusals = tuple(r.provider_kind for r in event.routes_tried if r.answer != "accepted")
        if open_:
            current = replace(
                open_[-1],
                blockers=tuple(event.blockers),
                domains=tuple(event.domains),
                refusals=refusals,
                province=event.province,
                age_band=event.age_band,
            )
            return [*closed, *open_[:-1], current]
        return [
            *periods,
            BlockedPeriod(
                event.case_id,
                event.province,
                event.age_band,
                tuple(event.blockers),
                tuple(event.domains),
                refusals,
                event.blocked_on,
            ),
        ]
    if isinstance(event, CaseUnblocked | CaseClosed):
        on: date = event.unblocked_on if isinstance(event, CaseUnblocked) else event.closed_on
        return [*closed, *(replace(p, unblocked_on=max(on, p.blocked_on)) for p in open_)]
    return periods
