"""Which government a signal reaches: onderwijs (education), welzijn (welfare) or both.

A policy team reads and changes this table, not the code around it. The domain gives the sector;
a blocker that belongs to the other sector (or to both) makes the signal `both`.
"""

from __future__ import annotations

from typing import Literal

from shared.domain import Blocker, LifeDomain

Sector = Literal["onderwijs", "welzijn", "both"]

DOMAIN_SECTOR: dict[LifeDomain, Sector] = {
    LifeDomain.school: "onderwijs",
    LifeDomain.family: "welzijn",
    LifeDomain.health: "welzijn",
    LifeDomain.material: "welzijn",
    LifeDomain.housing: "welzijn",
    LifeDomain.leisure: "welzijn",
    LifeDomain.youth_care: "welzijn",
    LifeDomain.justice: "welzijn",
    LifeDomain.work: "both",  # work and training sit between school and welfare
}

# None: the blocker says nothing about the sector; the domain decides.
BLOCKER_SECTOR: dict[Blocker, Sector | None] = {
    Blocker.waiting_list: None,
    Blocker.no_suitable_offer: None,
    Blocker.refused_by_provider: "welzijn",
    Blocker.refused_by_school: "onderwijs",
    Blocker.capacity_shortage: None,
    Blocker.regulation_gap: "both",
    Blocker.financial_barrier: None,
    Blocker.transport: None,
    Blocker.diagnosis_wait: "welzijn",
    Blocker.family_refuses: None,
    Blocker.other: None,
}


def sector_of(blocker: Blocker, domain: LifeDomain) -> Sector:
    by_domain = DOMAIN_SECTOR[domain]
    by_blocker = BLOCKER_SECTOR[blocker]
    if by_blocker is None or by_blocker == by_domain:
        return by_domain
    return "both"
