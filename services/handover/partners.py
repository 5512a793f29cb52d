"""The partner registry: who receives handovers, where, and how deliveries reach them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from services.handover.models import Partner
from services.handover.schemas import PartnerIn
from services.handover.service import Refused
from shared.db import Database


async def create_partner(*, db: Database, partner_in: PartnerIn) -> Partner:
    async with db.transaction() as session:
        if await session.get(Partner, partner_in.partner_id) is not None:
            raise Refused(f"partner {partner_in.partner_id} exists already")
        partner = Partner(
            partner_id=partner_in.partner_id,
            name=partner_in.name,
            destinations=[d.value for d in partner_in.destinations],
            provinces=[p.value for p in partner_in.provinces],
            response_days=partner_in.response_days,
            deliver_stream=partner_in.stream,
            webhook_url=str(partner_in.webhook.url) if partner_in.webhook else None,
            webhook_secret=partner_in.webhook.secret if partner_in.webhook else None,
            created_at=datetime.now(UTC),
        )
        session.add(partner)
        return partner


async def list_partners(*, db: Database) -> list[Partner]:
    async with db.reading() as session:
        return list(await session.exec(select(Partner).order_by(col(Partner.partner_id))))
