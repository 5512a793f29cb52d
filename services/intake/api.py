"""Intake HTTP API (SPEC section 4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status

from services.intake import disclosure, service
from services.intake.models import (
    DisclosureOut,
    RegistrationAnswer,
    RegistrationIn,
    RegistrationOut,
)
from shared.auth import CaseWorker, Principal, Role, require
from shared.runtime import RuntimeDep

router = APIRouter(prefix="/v1/registrations", tags=["registrations"])
disclosures = APIRouter(prefix="/v1/disclosures", tags=["disclosures"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Same key and body: the first answer again; same key, other body: 409.",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegistrationAnswer,
    responses={409: {"description": "Idempotency-Key reused with another body"}},
)
async def register(
    registration_in: RegistrationIn,
    idempotency_key: IdempotencyKey,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
) -> RegistrationAnswer:
    """Register a young person; the case follows through `registration.accepted`.
    A repeated key answers as the first time, with `Idempotent-Replayed: true`."""
    try:
        answer = await service.register(
            db=runtime.db,
            principal=principal,
            registration_in=registration_in,
            idempotency_key=idempotency_key,
            pseudonym_key=runtime.settings.pseudonym_key,
        )
    except service.IdempotencyConflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this Idempotency-Key was used before with another body",
        ) from None
    if isinstance(answer, service.Replayed):
        response.headers["Idempotent-Replayed"] = "true"
    return RegistrationAnswer(**answer.model_dump())


@router.get("/{registration_id}", response_model=RegistrationOut)
async def read_registration(
    registration_id: str, principal: CaseWorker, runtime: RuntimeDep
) -> RegistrationOut:
    """The registration, names included, for the organisation that made it."""
    registration = await service.get_registration(
        db=runtime.db, principal=principal, registration_id=registration_id
    )
    if registration is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such registration")
    return RegistrationOut.model_validate(
        {
            "registration_id": registration.id,
            "person_ref": registration.person_ref,
            "registrant_org": registration.registrant_org,
            "person": {
                "birth_date": registration.birth_date,
                "given_name": registration.given_name,
                "family_name": registration.family_name,
                "national_id": registration.national_id,
            },
            "region": {
                "province": registration.province,
                "municipality_nis": registration.municipality_nis,
            },
            "school_level": registration.school_level,
            "reasons": registration.reasons,
            "domains": registration.domains,
            "urgency": registration.urgency,
            "consent": {
                "given_by": registration.consent_given_by,
                "date": registration.consent_date,
            }
            if registration.consent_given_by
            else None,
            "summary": registration.summary,
            "status": registration.status,
            "registered_at": registration.registered_at,
        }
    )


@disclosures.get(
    "/{handover_id}",
    response_model=DisclosureOut,
    responses={404: {"description": "Nothing to disclose to you"}},
)
async def read_disclosure(
    handover_id: str,
    principal: Annotated[Principal, Depends(require(Role.partner))],
    runtime: RuntimeDep,
) -> DisclosureOut:
    """The fields the young person consented to share, for the partner that accepted the
    handover, until consent is withdrawn. Never the national register number."""
    fields = await disclosure.disclose(db=runtime.db, principal=principal, handover_id=handover_id)
    if fields is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing to disclose to you")
    return DisclosureOut(handover_id=handover_id, fields=fields)
