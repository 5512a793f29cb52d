"""A realistic synthetic population of cases, written straight into a cases database."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.cases.evaluation import cases_t, episodes_t
from services.cases.models import CaseOrganisation
from shared.db import Database

PROVINCE_NIS = {
    "ANT": "11002",
    "BRU": "21004",
    "VBR": "24062",
    "WVL": "31005",
    "OVL": "44021",
    "LIM": "71011",
}
ORGS = [f"clb-{i}" for i in range(40)] + [f"school-{i}" for i in range(60)]
orgs_t = CaseOrganisation.__table__  # type: ignore[attr-defined]


def generate(n: int, today: date, seed: int = 1) -> tuple[list[dict[str, Any]], ...]:
    """Cases aged 3 to 24 in all provinces, with the episodes of ordinary trajectories: most
    at school, some excluded, some supports ended, some without a key worker."""
    rng = random.Random(seed)
    cases, orgs, episodes = [], [], []
    now = datetime.now(UTC)
    for _ in range(n):
        case_id = str(uuid.uuid4())
        province = rng.choice(list(PROVINCE_NIS))
        birth = today - timedelta(days=rng.randint(3 * 365, 24 * 365))
        opened = now - timedelta(days=rng.randint(0, 700))
        registrant = rng.choice(ORGS)
        keyed = rng.random() < 0.7
        cases.append(
            {
                "id": case_id,
                "person_ref": uuid.uuid4().hex * 2,
                "birth_date": birth,
                "province": province,
                "municipality_nis": PROVINCE_NIS[province],
                "status": "open",
                "version": 1,
                "registrant_org": registrant,
                "key_worker_org": registrant if keyed else None,
                "key_worker": "w-1" if keyed else None,
                "blockers": [],
                "blocked_domains": [],
                "routes_tried": [],
                "opened_at": opened,
                "updated_at": opened,
            }
        )
        orgs.append(
            {"case_id": case_id, "org": registrant, "involvement": "registrant", "since": opened}
        )
        start = today - timedelta(days=rng.randint(30, 900))
        ended = rng.random() < 0.25
        episodes.append(
            _episode(
                case_id,
                "school",
                "enrollment",
                start,
                today - timedelta(days=rng.randint(1, 29)) if ended else None,
                rng.choice(["moved", "dropped_out", "completed"]) if ended else None,
                now,
            )
        )
        if rng.random() < 0.3:
            stop = today - timedelta(days=rng.randint(5, 120))
            episodes.append(
                _episode(
                    case_id,
                    "family",
                    "parenting_support",
                    stop - timedelta(days=90),
                    stop,
                    "interrupted",
                    now,
                )
            )
        if rng.random() < 0.1:
            first = today - timedelta(days=rng.randint(100, 300))
            episodes.append(
                _episode(
                    case_id,
                    "school",
                    "temporary_exclusion",
                    first,
                    first + timedelta(days=3),
                    "completed",
                    now,
                )
            )
            episodes.append(
                _episode(
                    case_id,
                    "school",
                    "temporary_exclusion",
                    first + timedelta(days=60),
                    None,
                    None,
                    now,
                )
            )
    return cases, orgs, episodes


def _episode(
    case_id: str,
    domain: str,
    kind: str,
    start: date,
    end: date | None,
    outcome: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "case_id": case_id,
        "domain": domain,
        "kind": kind,
        "provider_org": "provider",
        "start_date": start,
        "planned_end_date": None,
        "end_date": end,
        "outcome": outcome,
        "created_at": now,
    }


async def load(db: Database, n: int, today: date) -> int:
    """Insert `n` cases with their organisations and episodes; returns the episode count."""
    cases, orgs, episodes = generate(n, today)
    chunk = 5000
    async with db.transaction() as session:
        for table, rows in ((cases_t, cases), (orgs_t, orgs), (episodes_t, episodes)):
            for i in range(0, len(rows), chunk):
                await session.execute(table.insert(), rows[i : i + chunk])
    return len(episodes)
