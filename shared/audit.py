"""The audit log: every read or change of a case, registration or handover (SPEC section 3)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Principal
from shared.messaging.tables import AuditEntry

audit_t: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
_INSERT = audit_t.insert()


def row(
    principal: Principal, *, action: str, resource_type: str, resource_id: str
) -> dict[str, Any]:
    """One entry as a row, for inserts of many in one statement (no model to build)."""
    return {
        "at": datetime.now(UTC),
        "actor_sub": principal.sub,
        "actor_org": principal.org,
        "actor_role": principal.role.value,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
    }


async def record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
) -> None:
    """Write an audit entry in the caller's transaction (it is kept only if that commits)."""
    await record_many(
        session, principal, action=action, resource_type=resource_type, resource_ids=[resource_id]
    )


async def record_many(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: str,
    resource_ids: Iterable[str],
) -> None:
    """One entry per resource (a page of a list, say), in one statement. Written at once
    rather than at the session's next flush: a model and the unit of work cost more than
    the insert."""
    rows = [
        row(principal, action=action, resource_type=resource_type, resource_id=resource_id)
        for resource_id in resource_ids
    ]
    if rows:
        await session.execute(_INSERT, rows)
