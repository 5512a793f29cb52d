"""How a consumer splits a batch among its handlers, and what it reads of events it skips."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import envelope as env
from shared.events.contracts import CaseClosed, CaseOpened
from shared.messaging.consumer import Batched, Delivery, payloads, runs


async def one(session: AsyncSession, event: env.Envelope[Any]) -> None:
    """A handler applied event by event."""


async def many(session: AsyncSession, deliveries: list[Delivery]) -> None:
    """A batched handler."""


def event(name: str, n: int) -> env.Envelope[Any]:
    return env.Envelope[Any](
        id=f"{name}-{n}", source="/brug/test", type=name, subject=str(n), data={}
    )


def test_consecutive_batched_events_form_one_run_and_order_is_kept() -> None:
    handlers = {"a": Batched(many), "b": one}
    events = [event(t, n) for n, t in enumerate("aaabbaab")]
    split = [(h, [e.id for e in run]) for h, run in runs(events, handlers)]
    assert split == [
        (handlers["a"], ["a-0", "a-1", "a-2"]),
        (one, ["b-3"]),
        (one, ["b-4"]),
        (handlers["a"], ["a-5", "a-6"]),
        (one, ["b-7"]),
    ]


def entry(**overrides: Any) -> dict[bytes, bytes]:
    body = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/brug/cases",
        "type": "brug.case.closed.v1",
        "subject": "c1",
        "data": {"case_id": 5},  # not a valid case.closed payload
        **overrides,
    }
    return {b"event": json.dumps(body).encode()}


def test_an_event_not_wanted_is_passed_by_without_reading_its_payload() -> None:
    assert env.parse_entry(entry(), wanted={"brug.case.opened.v1"}) is None
    with pytest.raises(env.MalformedEvent, match=r"invalid brug\.case\.closed\.v1 payload"):
        env.parse_entry(entry(), wanted={"brug.case.closed.v1"})


def test_what_is_no_envelope_is_malformed_for_every_reader() -> None:
    for broken in (
        {b"event": b"\xff\x00"},
        {b"event": b"[1, 2]"},
        entry(type=7),
        entry(specversion="0.3"),
        {b"other": b"x"},
    ):
        with pytest.raises(env.MalformedEvent):
            env.parse_entry(broken, wanted=set())


def case_closed() -> env.Envelope[Any]:
    return env.build(
        service="cases",
        name="case.closed",
        subject="c1",
        data=CaseClosed(case_id="c1", closed_on=date(2026, 11, 24)),
    )


def test_a_wanted_event_is_typed() -> None:
    closed = case_closed()
    parsed = env.parse_entry({b"event": closed.model_dump_json().encode()}, wanted={closed.type})
    assert parsed is not None
    assert isinstance(parsed.data, CaseClosed)
    assert parsed.data.case_id == "c1"


def test_a_batched_run_gives_its_handler_payloads_of_its_type() -> None:
    closed = case_closed()
    assert payloads([Delivery(closed, None)], CaseClosed) == [closed.data]
    with pytest.raises(TypeError, match="expected CaseOpened payloads, got CaseClosed"):
        payloads([Delivery(closed, None)], CaseOpened)
