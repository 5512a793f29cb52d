"""Webhook delivery to partners, signed per Standard Webhooks, retried with backoff and jitter
for more than 24 hours; then the dead letters and an alert event for the sender's side.

A round first claims its rows (a claim token, and `next_attempt_at` pushed forward as a
lease), so that two replicas never POST one delivery at once; it then POSTs them side by side,
a few at a time, so that one slow partner does not hold up the others. Giving up commits the
state and the alert first; the dead letter follows, and a row stays owed one (retried by later
rounds) until it is marked written, so neither a failed commit nor a crash in between makes a
second letter or loses one. (A crash between the XADD and its mark can still repeat the
letter; it carries the delivery id as `entry_id` for readers to drop the repeat.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
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
TIMEOUT_SECONDS = 10
# Longer than a round may take (BATCH rows, CONCURRENCY at a time, each POST cut off at
# TIMEOUT_SECONDS), so a live round keeps its rows; a dead replica's come back when it ends.
LEASE = timedelta(seconds=6 * TIMEOUT_SECONDS)
CONCURRENCY = 10
W = WebhookDelivery


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
    lease: timedelta = LEASE,
    concurrency: int = CONCURRENCY,
) -> int:
    """Write the dead letters still owed, then attempt every delivery that is due and not
    claimed by another replica; returns how many were attempted."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    owed, token = await _claim(db, lease, dead=True)
    for row in owed:
        await _dead_letter(db, redis, row, token)
    due, token = await _claim(db, lease, dead=False)
    if not due:
        return 0
    async with db.reading() as session:
        partners = {
            p.partner_id: p
            for p in await session.exec(
                select(Partner).where(col(Partner.partner_id).in_({d.partner_id for d in due}))
            )
        }
    gate = asyncio.Semaphore(concurrency)

    async def one(delivery: WebhookDelivery) -> None:
        async with gate:
            error = await _attempt(client, partners.get(delivery.partner_id), delivery)
        if await _record(db, delivery.id, token, error, schedule, rng):
            await _dead_letter(db, redis, delivery, token)

    results = await asyncio.gather(*(one(d) for d in due), return_exceptions=True)
    for delivery, result in zip(due, results, strict=True):
        if isinstance(result, BaseException):
            log.error("webhook delivery %s: %s", delivery.id, type(result).__name__)
    return len(due)


async def _claim(db: Database, lease: timedelta, *, dead: bool) -> tuple[list[W], str]:
    """Take the due rows (pending ones, or dead ones owed a letter) under a new claim token.
    The conditions are repeated outside the subquery so that, on PostgreSQL, a row another
    round claimed meanwhile fails them on recheck; SKIP LOCKED spares the wait."""
    token = str(uuid.uuid4())
    now = datetime.now(UTC)
    due = [col(W.next_attempt_at) <= now]
    if dead:
        due += [col(W.status) == "dead", col(W.dead_lettered_at).is_(None)]
    else:
        due += [col(W.status) == "pending"]
    pick = (
        sa.select(col(W.id))
        .where(*due)
        .order_by(col(W.next_attempt_at))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    async with db.reading() as session:  # most rounds find nothing: no write lock for that
        if (await session.execute(sa.select(col(W.id)).where(*due).limit(1))).first() is None:
            return [], token
    async with db.transaction(notify=False) as session:
        await session.execute(
            sa.update(W)
            .where(col(W.id).in_(pick.scalar_subquery()), *due)
            .values(claim=token, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        return list(await session.exec(select(W).where(col(W.claim) == token))), token


async def _record(
    db: Database,
    delivery_id: str,
    token: str,
    error: str | None,
    schedule: list[float],
    rng: random.Random,
) -> bool:
    """Keep the attempt's outcome, if this round still holds the row; True when it gave up
    (the state and the alert are committed; the dead letter is owed)."""
    async with db.transaction() as session:
        row = (
            await session.exec(
                select(W)
                .where(col(W.id) == delivery_id, col(W.claim) == token, col(W.status) == "pending")
                .with_for_update()
            )
        ).first()
        if row is None:
            return False
        row.attempts += 1
        row.last_error = None if error is None else error[:300]
        wait = None if error is None else next_wait(row.attempts, schedule, rng)
        if error is None:
            row.status, row.claim = "delivered", None
        elif wait is None:
            row.status = "dead"  # keeps the claim: this round writes the letter next
            await _alert(session, row)
        else:
            row.next_attempt_at, row.claim = datetime.now(UTC) + timedelta(seconds=wait), None
        session.add(row)
        return row.status == "dead"


async def _attempt(client: httpx.AsyncClient, partner: Partner | None, delivery: W) -> str | None:
    """None if the partner took it (2xx), else why not."""
    if partner is None or not partner.webhook_url or not partner.webhook_secret:
        return "the partner has no webhook any more"
    headers = signed_headers(
        partner.webhook_secret, delivery.id, delivery.payload, datetime.now(UTC)
    )
    try:
        # One deadline for the whole POST (httpx's timeout is per phase), so a round ends
        # well within its lease and no other replica takes its rows meanwhile.
        async with asyncio.timeout(TIMEOUT_SECONDS):
            response = await client.post(
                partner.webhook_url, content=delivery.payload, headers=headers
            )
    except TimeoutError:
        return "timed out"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _alert(session: AsyncSession, row: W) -> None:
    """An alert on the handover stream, in the give-up's transaction, so the sender's side
    hears of it exactly when the delivery is given up."""
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


async def _dead_letter(db: Database, redis: Redis, delivery: W, token: str) -> None:
    """Write the owed dead letter, then mark it written. Only after the give-up committed:
    if the write fails, the row stays owed and a later round (this claim's lease run out)
    writes it."""
    async with db.reading() as session:
        row = await session.get(W, delivery.id)
    if row is None or row.claim != token or row.dead_lettered_at is not None:
        return
    await send_to_deadletter(
        redis,
        stream=f"webhook:{row.partner_id}",
        group="handover",
        entry_id=row.id,
        fields={b"event": row.payload.encode()},
        reason=f"webhook undelivered after {row.attempts} attempts: {row.last_error}",
        deliveries=row.attempts,
    )
    async with db.transaction(notify=False) as session:
        await session.execute(
            sa.update(W)
            .where(col(W.id) == row.id, col(W.claim) == token)
            .values(dead_lettered_at=datetime.now(UTC), claim=None)
            .execution_options(synchronize_session=False)
        )


async def run(db: Database, redis: Redis, schedule: list[float], poll_seconds: float) -> None:
    """Deliver as deliveries fall due, until cancelled."""
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
        while True:
            try:
                await deliver_due(db=db, redis=redis, client=client, schedule=schedule)
            except Exception:
                log.exception("webhook delivery round failed")
            await asyncio.sleep(poll_seconds)
