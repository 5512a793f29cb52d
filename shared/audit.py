"""The audit log: every read or change of a case, registration or handover (SPEC section 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Principal
from shared.messaging.tables import AuditEntry


def entry(principal: Principal, *, action: str, resource_type: str, resource_id: str) -> AuditEntry:
    """An audit entry for `principal` doing `action` now (not yet added anywhere)."""
    return AuditEntry(
        **row(principal, action=action, resource_type=resource_type, resource_id=resource_id)
    )


def row(
    principal: Principal, *, action: str, resource_type: str, resource_id: str
) -> dict[str, Any]:
    """The same entry as a row, for inserts of many in one statement (no model to build)."""
    return {
        "at": datetime.now(UTC),
        "actor_sub": principal.sub,
        "actor_org": principal.org,
        "actor_role": principal.role.value,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
    }


def record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
) -> None:
    """Add an audit entry to the caller's transaction (it is kept only if that commits)."""
    session.add(
        entry(principal, action=action, resource_type=resource_type, resource_id=resource_id)
    )
