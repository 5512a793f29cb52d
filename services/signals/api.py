"""Signals HTTP API and dashboard (SPEC section 7): analysts read and answer; the case workers
of a case behind a signal read the answer."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.signals import dashboard, service
from services.signals.models import SignalResponse, SignalRow
from shared.auth import Principal, Role, require
from shared.domain import Day
from shared.runtime import RuntimeDep

router = APIRouter(prefix="/v1/signals", tags=["signals"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
pages = APIRouter(tags=["dashboard"])
Analyst = Annotated[Principal, Depends(require(Role.analyst))]
CaseWorker = Annotated[Principal, Depends(require(Role.case_worker))]


class Count(BaseModel):
    value: int | None
    suppressed: bool


class GovernmentResponse(BaseModel):
    acknowledged_on: str | None
    response: str | None
    text: str | None
    responded_on: str | None


class SignalOut(BaseModel):
    """Aggregates only: no case id, person ref or date of a single case."""

    id: str
    status: str
    level: str
    sector: str
    province: str
    blocker: str
    domain: str
    case_count: Count
    previous_count: Count
    trend: str | None
    median_days_blocked: float | None
    age_bands: dict[str, Count]
    refusals_by_provider_kind: dict[str, Count] = Field(
        description="How many distinct cases each kind of provider said no to; only kinds "
        "that said no to at least k cases are listed (an absent kind may have said no to none)."
    )
    raised_on: str
    resolved_on: str | None
    government_response: GovernmentResponse | None = Field(
        description="The answer to this raising of the signal; a signal raised again after it "
        "resolved starts without one."
    )


class RespondIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: Literal["addressed", "dismissed"]
    text: str = Field(min_length=1, max_length=4000)


def count(value: int | None) -> Count:
    return Count(value=value, suppressed=value is None)


def signal_out(row: SignalRow, response: SignalResponse | None) -> SignalOut:
    answer = None
    if response is not None:
        answer = GovernmentResponse(
            acknowledged_on=str(response.acknowledged_on) if response.acknowledged_on else None,
            response=response.response,
            text=response.response_text,
            responded_on=str(response.responded_on) if response.responded_on else None,
        )
    return SignalOut(
        id=row.id,
        status=service.status_of(row, response),
        level=row.level,
        sector=row.sector,
        province=row.province,
        blocker=row.blocker,
        domain=row.domain,
        case_count=count(row.case_count),
        previous_count=count(row.previous_count),
        trend=row.trend,
        median_days_blocked=row.median_days_blocked,
        age_bands={b: count(v) for b, v in row.age_bands.items()},
        refusals_by_provider_kind={p: count(v) for p, v in row.refusals_by_provider_kind.items()},
        raised_on=str(row.raised_on),
        resolved_on=str(row.resolved_on) if row.resolved_on else None,
        government_response=answer,
    )


@router.get("", response_model=list[SignalOut])
async def list_signals(
    principal: Analyst,
    runtime: RuntimeDep,
    request: Request,
    response: Response,
    signal_status: Annotated[
        Literal["open", "acknowledged", "resolved"] | None, Query(alias="status")
    ] = None,
    level: Literal["regional", "flemish"] | None = None,
    sector: Literal["onderwijs", "welzijn", "both"] | None = None,
    cursor: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[SignalOut]:
    """Signals filtered by status, level or sector, `limit` at a time; when more follow, the
    `Link` header names the next page (`rel="next"`)."""
    rows = await service.list_signals(
        runtime.db,
        status=signal_status,
        level=level,
        sector=sector,
        after=cursor,
        limit=limit + 1,
    )
    if len(rows) > limit:
        rows = rows[:limit]
        following = request.url.include_query_params(cursor=rows[-1][0].id, limit=limit)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return [signal_out(r, resp) for r, resp in rows]


CSV_BANDS = ["0-5", "6-11", "12-17", "18+"]


def csv_text(signals: list[SignalOut]) -> str:
    """The signals as CSV: the same numbers as the API, one row per signal and no totals, so
    the export adds nothing to subtract from."""

    def cell(c: Count) -> str:
        return "suppressed" if c.suppressed else str(c.value)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "id",
            "status",
            "level",
            "sector",
            "province",
            "blocker",
            "domain",
            "case_count",
            "previous_count",
            "trend",
            "median_days_blocked",
            *[f"age_{b}" for b in CSV_BANDS],
            "government_response",
        ]
    )
    for s in signals:
        writer.writerow(
            [
                s.id,
                s.status,
                s.level,
                s.sector,
                s.province,
                s.blocker,
                s.domain,
                cell(s.case_count),
                cell(s.previous_count),
                s.trend or "",
                s.median_days_blocked if s.median_days_blocked is not None else "",
                *[cell(s.age_bands[b]) if b in s.age_bands else "" for b in CSV_BANDS],
                s.government_response.response if s.government_response else "",
            ]
        )
    return buffer.getvalue()


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(principal: Analyst, runtime: RuntimeDep) -> Response:
    """The signals as a spreadsheet; suppressed counts are empty and marked."""
    rows = await service.list_signals(runtime.db)
    return Response(
        csv_text([signal_out(row, response) for row, response in rows]),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="signals.csv"'},
    )


@router.get("/for-case/{case_id}", response_model=list[SignalOut])
async def for_case(case_id: str, principal: CaseWorker, runtime: RuntimeDep) -> list[SignalOut]:
    """For a case worker involved in the case: the signals it is behind, and the government's
    answer (never which other cases are behind them)."""
    found = await service.signals_behind_case(runtime.db, principal, case_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    return [signal_out(r, resp) for r, resp in found]


@router.get("/{signal_id}", response_model=SignalOut)
async def read_signal(signal_id: str, principal: Analyst, runtime: RuntimeDep) -> SignalOut:
    try:
        return signal_out(*await service.get_signal(runtime.db, signal_id))
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such signal") from None


@router.post("/{signal_id}/acknowledge", response_model=SignalOut)
async def acknowledge(signal_id: str, principal: Analyst, runtime: RuntimeDep) -> SignalOut:
    """Government has seen the signal."""
    try:
        await service.acknowledge(runtime.db, principal, signal_id)
        return signal_out(*await service.get_signal(runtime.db, signal_id))
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such signal") from None


@router.post("/{signal_id}/respond", response_model=SignalOut)
async def respond(
    signal_id: str, body: RespondIn, principal: Analyst, runtime: RuntimeDep
) -> SignalOut:
    """Government's answer: `addressed` or `dismissed`, with a text."""
    try:
        await service.respond(runtime.db, principal, signal_id, body.response, body.text)
        return signal_out(*await service.get_signal(runtime.db, signal_id))
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such signal") from None


@pages.get("/dashboard", response_class=HTMLResponse)
async def show_dashboard(principal: Analyst, runtime: RuntimeDep) -> HTMLResponse:
    """Open signals with charts, server-rendered SVG (no script, no outside resources)."""
    rows = [signal_out(r, resp) for r, resp in await service.list_signals(runtime.db)]
    return HTMLResponse(dashboard.render([s for s in rows if s.status != "resolved"]))


class SettleOut(BaseModel):
    as_of: date
    raised: int
    updated: int
    resolved: int


@admin.post("/settle", response_model=SettleOut)
async def settle(
    principal: Annotated[Principal, Depends(require(Role.admin))],
    runtime: RuntimeDep,
    as_of: Annotated[
        Day | None, Query(description="Evaluate as of this date (default today)")
    ] = None,
) -> SettleOut:
    """Re-evaluate every cell as of a date: windows move with the calendar (also done every
    few hours for today)."""
    day = as_of or service.today()
    async with runtime.db.transaction() as session:
        result = await service.settle(session, as_of=day, k=runtime.settings.signal_min_cases)
    return SettleOut(
        as_of=day, raised=result.raised, updated=result.updated, resolved=result.resolved
    )
