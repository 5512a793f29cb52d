"""Cases HTTP API (SPEC section 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from services.cases import queries, service, sweep
from services.cases.models import BreakRow, Case
from services.cases.schemas import (
    BlockIn,
    BreakOut,
    CaseOut,
    CasePage,
    CaseSummary,
    EpisodeEndIn,
    EpisodeIn,
    EpisodeOut,
    KeyWorkerIn,
    KeyWorkerOut,
    SweepOut,
    TimelineOut,
)
from shared.auth import Admin, CaseWorker
from shared.domain import Day, Province, age_on
from shared.http import if_match_version
from shared.runtime import RuntimeDep

router = APIRouter(prefix="/v1/cases", tags=["cases"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"])

CHANGE_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "No such case, or your organisation is not involved in it"},
    409: {"description": "The change does not fit the case's state"},
    412: {"description": "If-Match names a version that is no longer current"},
    428: {"description": "If-Match is missing"},
}


def parse_if_match(if_match: str | None) -> int:
    """`3`, `"3"` or `W/"3"` -> 3; missing -> 428; not a version -> 422."""
    version = if_match_version(if_match, what="case", required=True)
    assert version is not None
    return version


IfMatch = Annotated[str | None, Header(alias="If-Match", description="The case's version")]


@asynccontextmanager
async def answering() -> AsyncIterator[None]:
    """Map the use cases' refusals onto HTTP answers."""
    try:
        yield
    except queries.CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case") from None
    except service.StaleVersion:
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED,
            "the case has changed since you read it; read it again and retry",
        ) from None
    except service.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except service.InvalidField as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}]
        ) from None


def case_out(view: queries.CaseView, response: Response | None = None) -> CaseOut:
    case = view.case
    if response is not None:
        response.headers["ETag"] = f'"{case.version}"'
    return CaseOut(
        id=case.id,
        person_ref=case.person_ref,
        status=case.status,
        age=age_on(case.birth_date, datetime.now(UTC).date()),
        province=case.province,
        municipality_nis=case.municipality_nis,
        key_worker=_key_worker(case),
        episodes=[EpisodeOut.model_validate(e, from_attributes=True) for e in view.episodes],
        open_breaks=[break_out(b) for b in view.open_breaks],
        blockers=case.blockers,
        blocked_domains=case.blocked_domains,
        routes_tried=case.routes_tried,
        block_note=case.block_note,
        involved_orgs=view.orgs,
        version=case.version,
        opened_at=case.opened_at,
        closed_on=case.closed_on,
    )


def _key_worker(case: Case) -> KeyWorkerOut | None:
    if case.key_worker_org and case.key_worker:
        return KeyWorkerOut(org=case.key_worker_org, worker=case.key_worker)
    return None


def break_out(row: BreakRow) -> BreakOut:
    return BreakOut.model_validate(row, from_attributes=True)


@router.get("", response_model=CasePage)
async def list_cases(
    principal: CaseWorker,
    runtime: RuntimeDep,
    person_ref: Annotated[str | None, Query(max_length=64)] = None,
    province: Province | None = None,
    case_status: Annotated[
        Literal["open", "blocked", "closed"] | None, Query(alias="status")
    ] = None,
    has_open_breaks: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = queries.PAGE_SIZE,
) -> CasePage:
    """Cases the caller's organisation is involved in, `limit` at a time."""
    items, next_cursor = await queries.list_cases(
        db=runtime.db,
        principal=principal,
        person_ref=person_ref,
        province=province,
        status=case_status,
        has_open_breaks=has_open_breaks,
        cursor=cursor,
        limit=limit,
    )
    today = datetime.now(UTC).date()
    return CasePage(
        items=[
            CaseSummary(
                id=i.case.id,
                person_ref=i.case.person_ref,
                status=i.case.status,
                age=age_on(i.case.birth_date, today),
                province=i.case.province,
                key_worker=_key_worker(i.case),
                open_breaks=i.open_breaks,
                blockers=i.case.blockers,
                involved_orgs=i.orgs,
                version=i.case.version,
            )
            for i in items
        ],
        next_cursor=next_cursor,
    )


@router.get("/{case_id}", response_model=CaseOut, responses=CHANGE_RESPONSES)
async def read_case(
    case_id: str, principal: CaseWorker, runtime: RuntimeDep, response: Response
) -> CaseOut:
    """One case with its trajectory; 404 unless the caller's organisation is involved."""
    async with answering():
        view = await queries.get_case(db=runtime.db, principal=principal, case_id=case_id)
    return case_out(view, response)


@router.post(
    "/{case_id}/episodes",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=CHANGE_RESPONSES,
)
async def add_episode(
    case_id: str,
    episode_in: EpisodeIn,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    """Add a measure or support in one life domain; breaks are re-evaluated at once."""
    version = parse_if_match(if_match)
    async with answering():
        view = await service.add_episode(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            if_match=version,
            episode_in=episode_in,
        )
    return case_out(view, response)


@router.post(
    "/{case_id}/episodes/{episode_id}/end", response_model=CaseOut, responses=CHANGE_RESPONSES
)
async def end_episode(
    case_id: str,
    episode_id: str,
    end_in: EpisodeEndIn,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    version = parse_if_match(if_match)
    async with answering():
        view = await service.end_episode(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            episode_id=episode_id,
            if_match=version,
            end_in=end_in,
        )
    return case_out(view, response)


@router.put("/{case_id}/key-worker", response_model=CaseOut, responses=CHANGE_RESPONSES)
async def set_key_worker(
    case_id: str,
    key_worker: KeyWorkerIn,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    version = parse_if_match(if_match)
    async with answering():
        view = await service.set_key_worker(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            if_match=version,
            key_worker=key_worker,
        )
    return case_out(view, response)


@router.post("/{case_id}/block", response_model=CaseOut, responses=CHANGE_RESPONSES)
async def block(
    case_id: str,
    block_in: BlockIn,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    """Every route is exhausted: mark the case blocked so that signals can count it."""
    version = parse_if_match(if_match)
    async with answering():
        view = await service.block(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            if_match=version,
            block_in=block_in,
        )
    return case_out(view, response)


@router.post("/{case_id}/unblock", response_model=CaseOut, responses=CHANGE_RESPONSES)
async def unblock(
    case_id: str,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    version = parse_if_match(if_match)
    async with answering():
        view = await service.unblock(
            db=runtime.db, principal=principal, case_id=case_id, if_match=version
        )
    return case_out(view, response)


@router.post("/{case_id}/close", response_model=CaseOut, responses=CHANGE_RESPONSES)
async def close(
    case_id: str,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    version = parse_if_match(if_match)
    async with answering():
        view = await service.close(
            db=runtime.db, principal=principal, case_id=case_id, if_match=version
        )
    return case_out(view, response)


@router.get("/{case_id}/breaks", response_model=list[BreakOut], responses=CHANGE_RESPONSES)
async def list_breaks(case_id: str, principal: CaseWorker, runtime: RuntimeDep) -> list[BreakOut]:
    """Every break of the case, open and resolved."""
    async with answering():
        rows = await queries.list_breaks(db=runtime.db, principal=principal, case_id=case_id)
    return [break_out(r) for r in rows]


@router.post(
    "/{case_id}/breaks/{break_id}/close", response_model=CaseOut, responses=CHANGE_RESPONSES
)
async def close_break(
    case_id: str,
    break_id: str,
    principal: CaseWorker,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> CaseOut:
    """Close a break that only a case worker can close (`repeated_exclusion`)."""
    version = parse_if_match(if_match)
    async with answering():
        view = await service.close_break(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            break_id=break_id,
            if_match=version,
        )
    return case_out(view, response)


@router.get("/{case_id}/timeline", response_model=list[TimelineOut], responses=CHANGE_RESPONSES)
async def timeline(case_id: str, principal: CaseWorker, runtime: RuntimeDep) -> list[TimelineOut]:
    """Every change to the case: what, who and when."""
    async with answering():
        rows = await queries.list_timeline(db=runtime.db, principal=principal, case_id=case_id)
    return [TimelineOut.model_validate(r, from_attributes=True) for r in rows]


@admin_router.post("/sweep", response_model=SweepOut)
async def run_sweep(
    principal: Admin,
    runtime: RuntimeDep,
    as_of: Annotated[
        Day | None, Query(description="Evaluate as of this date (default today)")
    ] = None,
) -> SweepOut:
    """Evaluate the time-based break rules for every open case as of a date."""
    day = as_of or datetime.now(UTC).date()
    result = await sweep.sweep(db=runtime.db, as_of=day)
    return SweepOut(as_of=day, cases=result.cases, opened=result.opened, resolved=result.resolved)


class RetentionOut(BaseModel):
    as_of: date
    erased: int


@admin_router.post("/retention", response_model=RetentionOut)
async def run_retention(
    principal: Admin,
    runtime: RuntimeDep,
    as_of: Annotated[Day | None, Query(description="Erase as of this date (default today)")] = None,
) -> RetentionOut:
    """Cases closed longer than BRUG_RETENTION_DAYS forget their person (also done daily)."""
    day = as_of or datetime.now(UTC).date()
    erased = await sweep.erase_expired(
        db=runtime.db, as_of=day, retention_days=runtime.settings.retention_days
    )
    return RetentionOut(as_of=day, erased=erased)
