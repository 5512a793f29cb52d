"""Intake writes its rows as plain dicts (no models, for speed): each must fill every column
of its table, so that a column added to a model cannot be left out silently."""

from __future__ import annotations

import sqlalchemy as sa

from services.intake.models import IdempotencyRecord, Registration, RegistrationIn
from services.intake.service import prepare
from shared.auth import Principal, Role
from shared.messaging.tables import AuditEntry, OutboxEvent
from tests.factories import registration


def columns(model: type) -> set[str]:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return {c.name for c in table.columns}


def test_each_prepared_row_fills_its_whole_table() -> None:
    prepared = prepare(
        principal=Principal(sub="u1", role=Role.case_worker, org="clb-gent"),
        registration_in=RegistrationIn.model_validate(registration()),
        idempotency_key="k1",
        pseudonym_key="a-test-pseudonym-key",
    )
    assert set(prepared.registration) == columns(Registration)
    assert set(prepared.idempotency) == columns(IdempotencyRecord)
    assert set(prepared.audit) == columns(AuditEntry) - {"id"}  # the database numbers them
    assert set(prepared.outbox) == columns(OutboxEvent) - {"id", "published_at"}
    assert prepared.registration["status"] == "accepted"
    assert prepared.idempotency["registration_id"] == prepared.registration["id"]
