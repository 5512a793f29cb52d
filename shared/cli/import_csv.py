"""`brug intake import FILE.csv`: register a whole file through the intake API.

Each row goes through the same validation as a single registration, with an Idempotency-Key
derived from the row, so importing a file twice registers nobody twice. Refused rows are
reported with the fields at fault (never with the names in them).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import sys
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from shared.auth import make_token
from shared.settings import get_settings

REQUIRED = {
    "given_name",
    "family_name",
    "birth_date",
    "province",
    "municipality_nis",
    "school_level",
    "reasons",
    "urgency",
}
COLUMNS = [
    "national_id",
    "given_name",
    "family_name",
    "birth_date",
    "province",
    "municipality_nis",
    "school_level",
    "reasons",
    "domains",
    "urgency",
    "consent_given_by",
    "consent_date",
    "summary",
]


def row_to_body(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row (lists separated by `;`) as the JSON body of POST /v1/registrations."""

    def items(value: str | None) -> list[str]:
        return [v.strip() for v in (value or "").split(";") if v.strip()]

    body: dict[str, Any] = {
        "person": {
            "national_id": row.get("national_id") or None,
            "given_name": row.get("given_name", ""),
            "family_name": row.get("family_name", ""),
            "birth_date": row.get("birth_date", ""),
        },
        "region": {
            "province": row.get("province", ""),
            "municipality_nis": row.get("municipality_nis", ""),
        },
        "school_level": row.get("school_level", ""),
        "reasons": items(row.get("reasons")),
        "domains": items(row.get("domains")),
        "urgency": row.get("urgency", ""),
    }
    if row.get("consent_given_by") or row.get("consent_date"):
        body["consent"] = {
            "given_by": row.get("consent_given_by", ""),
            "date": row.get("consent_date", ""),
        }
    if row.get("summary"):
        body["summary"] = row["summary"]
    return body


def idempotency_key(row: dict[str, str]) -> str:
    """From the row's content only: moving or adding rows registers nobody twice."""
    material = "\x1f".join(f"{k}={(row.get(k) or '').strip()}" for k in COLUMNS)
    return "import-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def refusal_reasons(response: httpx.Response) -> str:
    """The fields at fault and why, from the API's error answer."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(detail, list):
        return "; ".join(f"{d.get('field', '?')}: {d.get('message', '')}" for d in detail)
    return f"HTTP {response.status_code}: {detail}"


class Outcome:
    def __init__(self) -> None:
        self.registered = 0
        self.already = 0
        self.refused: list[tuple[int, str]] = []


async def import_rows(
    rows: list[tuple[int, dict[str, str]]],
    *,
    url: str,
    token: str,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Outcome:
    outcome = Outcome()
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, transport=transport
    ) as client:
        with tqdm(total=len(rows), unit="row", desc="importing", file=sys.stderr) as bar:

            async def one(line: int, row: dict[str, str]) -> None:
                async with semaphore:
                    try:
                        # Rate limited (429) or busy (503): wait as told, then again.
                        for _ in range(5):
                            response = await client.post(
                                "/v1/registrations",
                                json=row_to_body(row),
                                headers={"Idempotency-Key": idempotency_key(row)},
                            )
                            if response.status_code not in (429, 503):
                                break
                            await asyncio.sleep(float(response.headers.get("Retry-After", 5)))
                    except httpx.HTTPError as exc:
                        outcome.refused.append((line, f"not sent: {type(exc).__name__}"))
                    else:
                        if response.status_code != 202:
                            outcome.refused.append((line, refusal_reasons(response)))
                        elif response.headers.get("Idempotent-Replayed") == "true":
                            outcome.already += 1
                        else:
                            outcome.registered += 1
                    bar.update(1)

            await asyncio.gather(*(one(line, row) for line, row in rows))
    outcome.refused.sort()
    return outcome


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and numbered rows; the delimiter (`,` `;` or tab) is recognised."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(8192)
        handle.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(handle, dialect=dialect)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        return header, [(number, row) for number, row in enumerate(reader, start=2)]


def header_problems(header: list[str]) -> list[str]:
    problems = []
    missing = sorted(REQUIRED - set(header))
    unknown = sorted(set(header) - set(COLUMNS))
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    return problems


def run_import(args: argparse.Namespace) -> int:
    settings = get_settings()
    path = Path(args.file)
    if not path.is_file():
        print(f"brug: no such file: {path}", file=sys.stderr)
        return 2
    if not args.token and not args.org:
        print("brug: give --org (development token) or --token", file=sys.stderr)
        return 2
    header, rows = read_rows(path)
    problems = header_problems(header)
    if problems:
        print(
            f"brug: {path}: {'; '.join(problems)}. Columns: {', '.join(COLUMNS)}", file=sys.stderr
        )
        return 2
    url = args.url or f"http://{settings.host}:{settings.port_for('intake')}"
    try:
        httpx.get(f"{url}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError:
        print(f"brug: cannot reach intake at {url} (is `make run` going?)", file=sys.stderr)
        return 2
    token = args.token or make_token(
        role="case_worker", org=args.org, sub="brug-import", secret=settings.jwt_secret
    )
    outcome = asyncio.run(
        import_rows(rows, url=url, token=token, concurrency=max(1, args.concurrency))
    )
    report = Path(args.report) if args.report else path.with_suffix(".refused.csv")
    report.unlink(missing_ok=True)
    if outcome.refused:
        by_line = dict(rows)
        with report.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "reasons", *header])
            for line, reason in outcome.refused:
                writer.writerow([line, reason, *(by_line[line].get(h, "") for h in header)])
    print(
        f"{len(rows)} rows: {outcome.registered} registered, "
        f"{outcome.already} already registered, {len(outcome.refused)} refused"
    )
    for line, reason in outcome.refused[:20]:
        print(f"  line {line}: {reason}")
    if outcome.refused:
        print(f"refused rows with their reasons, to correct and import again: {report}")
    return 0 if not outcome.refused else 1
