"""Webhook delivery to partners, signed per Standard Webhooks, retried with backoff and jitter
for more than 24 hours; then the dead letters and an alert event for the sender's side."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import UTC, datetime, timedelta

import httpx
from redis.asyncio import Redis
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks.webhooks import Webhook

from services.handover.models import Partner, WebhookDelivery
from shared.db import Database
from shared.events.contracts import PartnerHandoverUpdate
from shared.messaging import outbox
from shared.messaging.deadletter import send_to_deadletter

log = logging.getLogger("brug.handover.webhooks")
BATCH = 50


def next_wait(attempts: int, schedule: list[float], rng: random.Random) -> float | None:
    """Seconds until the next attempt after `attempts` failures, ±10 % jitter so that a
    partner coming back is not hit by every retry at once; None when the schedule is spent."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * rng.uniform(0.9, 1.1)


def signed_headers(secret: str, msg_id: str, payload: str, at: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, payload),
    }


async def deliver_due(
    *,
    db: Database,
    redis: Redis,
    client: httpx.AsyncClient,
    schedule: list[float],
    rng: random.Random | None = None,
) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    now = datetime.now(UTC)
    async with db.reading() as session:
        due = list(
            await session.exec(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(BATCH)
            )
        )
        partners = {
            p.partner_id: p
            for p in await session.exec(
                select(Partner).where(col(Partner.partner_id).in_({d.partner_id for d in due}))
            )
        }
    for delivery in due:
        partner = partners.get(delivery.partner_id)
        error = await _attempt(client, partner, delivery)
        async with db.transaction() as session:
            row = await session.get(WebhookDelivery, delivery.id)
            if row is None or row.status != "pending":
                continue
            row.attempts += 1
            if error is None:
                row.status = "delivered"
                row.last_error = None
            else:
                row.last_error = error[:300]
                wait = next_wait(row.attempts, schedule, rng)
                if wait is None:
                    row.status = "dead"
                    await _give_up(session, redis, row)
                else:
                    row.next_attempt_at = datetime.now(UTC) + timedelta(seconds=wait)
            session.add(row)
    return len(due)


async def _attempt(
    client: httpx.AsyncClient, partner: Partner | None, delivery: WebhookDelivery
) -> str | None:
    """None if the partner took it (2xx), else why not."""
    if partner is None or not partner.webhook_url or not partner.webhook_secret:
        return "the partner has no webhook any more"
    headers = signed_headers(
        partner.webhook_secret, delivery.id, delivery.payload, datetime.now(UTC)
    )
    try:
        response = await client.post(partner.webhook_url, content=delivery.payload, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _give_up(session: AsyncSession, redis: Redis, row: WebhookDelivery) -> None:
    """Dead letter, and an alert on the handover stream so the sender's side hears of it."""
    await send_to_deadletter(
        redis,
        stream=f"webhook:{row.partner_id}",
        group="handover",
        entry_id=row.id,
        fields={b"event": row.payload.encode()},
        reason=f"webhook undelivered after {row.attempts} attempts: {row.last_error}",
        deliveries=row.attempts,
    )
    event = json.loads(row.payload)
    await outbox.publish(
        session,
        service="handover",
        name="handover.delivery_failed",
        subject=event["subject"],
        data=PartnerHandoverUpdate(
            handover_id=event["subject"],
            status="delivery_failed",
            on=datetime.now(UTC).date(),
        ),
    )
    log.warning("webhook delivery %s to %s given up", row.id, row.partner_id)


async def run(db: Database, redis: Redis, schedule: list[float], poll_seconds: float) -> None:
    """Deliver as deliveries fall due, until cancelled."""
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            try:
                await deliver_due(db=db, redis=redis, client=client, schedule=schedule)
            except Exception:
                log.exception("webhook delivery round failed")
            await asyncio.sleep(poll_seconds)
