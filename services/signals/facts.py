"""How case events change a case's blocked periods: one pure function, used live (per event)
and by the rebuild (over the whole stream), so both end in the same state."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.signals.aggregate import BlockedPeriod
from shared.events.contracts import CaseBlocked, CaseClosed, CaseUnblocked, Payload


def next_periods(periods: list[BlockedPeriod], event: Payload) -> list[BlockedPeriod]:
    """The case's periods after `event`. Unblocking or closing ends the open period.

    A block while blocked ends the open period on the new block's day and opens another with
    the new blockers and domains: until that day the case was blocked for the old reasons, and
    it keeps counting in their cells while that lies within the window (rewriting the open
    period would drop it from them). A new block on the same day replaces the open one. The
    same block delivered twice changes nothing."""
    open_ = [p for p in periods if p.unblocked_on is None]
    closed = [p for p in periods if p.unblocked_on is not None]
    if isinstance(event, CaseBlocked):
        day = max([event.blocked_on, *(p.blocked_on for p in open_)])
        started = BlockedPeriod(
            event.case_id,
            event.province,
            event.age_band,
            tuple(event.blockers),
            tuple(event.domains),
            tuple(r.provider_kind for r in event.routes_tried if r.answer != "accepted"),
            day,
        )
        if open_ and open_[-1] == started:
            return periods
        # A block the same day as the open one corrects it: the case was never blocked for
        # the old reasons, so their period goes rather than counting for a day.
        ended = [replace(p, unblocked_on=day) for p in open_ if p.blocked_on < day]
        return [*closed, *ended, started]
    if isinstance(event, CaseUnblocked | CaseClosed):
        on: date = event.unblocked_on if isinstance(event, CaseUnblocked) else event.closed_on
        return [*closed, *(replace(p, unblocked_on=max(on, p.blocked_on)) for p in open_)]
    return periods
