"""A handover's expected state after each acknowledged step: the table of
services/handover/workflow.py, as the partner and the case see it too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from services.cases.inbound import handover_episode_id
from tests.chaos.ledger import CaseTruth, EpisodeTruth, HandoverTruth

# What a closing case cancels (a handover not, or no longer, offered).
CANCELLED_BY_CLOSING = frozenset({"proposed", "consented", "declined", "expired"})


def expected_after(truth: HandoverTruth, a: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """How to tell, from a read-back, that the step was applied."""
    action = a["action"]
    if action == "consent":
        return lambda v: v["status"] == "consented" and v.get("partner_id") == a["partner"]
    if action == "offer":
        return lambda v: v["status"] == "offered" and v.get("partner_id") == a["partner"]
    if action == "meeting":
        return lambda v: (
            v["status"] == "meeting_scheduled" and v["meeting_date"] == a["date"].isoformat()
        )
    if action == "start":
        return lambda v: v["status"] == "started"
    if action == "withdraw_consent":
        return lambda v: (
            v["status"] == "withdrawn" or bool((v.get("consent") or {}).get("withdrawn"))
        )
    status = {
        "accept": "accepted",
        "decline": "declined",
        "complete": "completed",
        "interrupt": "interrupted",
        "cancel": "cancelled",
    }[action]
    return lambda v: v["status"] == status


# Steps after an offer that the partner hears of by a partner.update (its stream).
TELLS_PARTNER = frozenset(
    {"accept", "decline", "meeting", "start", "complete", "interrupt", "withdraw_consent"}
)


def apply_step(truth: HandoverTruth, case: CaseTruth, a: dict[str, Any], today: date) -> None:
    """The handover's expected state after an acknowledged step (the table of workflow.py)."""
    action = a["action"]
    if action in TELLS_PARTNER and truth.partner_id is not None:
        truth.updates[truth.partner_id] += 1
    if action == "consent":
        truth.status, truth.partner_id = "consented", a["partner"]
        truth.shared_fields, truth.consent_withdrawn = list(a["fields"]), False
    elif action == "offer":
        truth.status = "offered"
        truth.offers[a["partner"]] += 1
    elif action == "accept":
        truth.status = "accepted"
    elif action == "decline":
        truth.status = "declined"
        assert truth.partner_id is not None
        truth.declined_by.append(truth.partner_id)
    elif action == "meeting":
        truth.status, truth.meeting_date = "meeting_scheduled", a["date"]
    elif action == "start":
        truth.status, truth.start_date = "started", a["date"]
        assert truth.partner_id is not None
        episode = EpisodeTruth(
            handover_episode_id(truth.id),
            "work",
            "job" if truth.destination == "work" else "training",
            truth.partner_id,
            a["date"],
        )
        case.episodes[episode.id] = episode
    elif action == "complete":
        truth.status = "completed"
    elif action == "interrupt":
        truth.status = "interrupted"
        episode = case.episodes[handover_episode_id(truth.id)]
        episode.end_date, episode.outcome = max(today, episode.start_date), "interrupted"
    elif action == "withdraw_consent":
        truth.consent_withdrawn, truth.shared_fields = True, []
        if truth.status != "started":
            truth.status = "withdrawn"
    elif action == "cancel":
        truth.status = "cancelled"


def cancel_on_close(truth: HandoverTruth) -> None:
    if truth.status in CANCELLED_BY_CLOSING:
        truth.status = "cancelled"
