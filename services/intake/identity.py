"""Identity rules: Belgian national register / BIS numbers and the pseudonymous person_ref."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date

from stdnum.be import bis, nn
from stdnum.exceptions import ValidationError as StdnumError


class InvalidNationalId(ValueError):
    pass


def validate_national_id(value: str, birth_date: date | None) -> str:
    """The compact 11-digit number, if it is a valid national register or BIS number whose
    encoded birth date (pre- and post-2000 births alike) agrees with `birth_date`."""
    compact = nn.compact(value)
    module = None
    for candidate in (nn, bis):
        try:
            candidate.validate(compact)
        except StdnumError:
            continue
        module = candidate
        break
    if module is None:
        raise InvalidNationalId(
            "not a valid Belgian national register or BIS number (11 digits, modulo-97 check)"
        )
    if birth_date is not None and not _birth_date_agrees(module, compact, birth_date):
        raise InvalidNationalId("the birth date it encodes does not match person.birth_date")
    return str(compact)


def _birth_date_agrees(module: object, compact: str, birth_date: date) -> bool:
    try:
        encoded = module.get_birth_date(compact)  # type: ignore[attr-defined]
    except StdnumError:
        encoded = None
    if encoded is not None:
        return bool(encoded == birth_date)
    # Day or month unknown in the register: the year must still agree.
    try:
        year = module.get_birth_year(compact)  # type: ignore[attr-defined]
    except StdnumError:
        return False
    return year is None or year == birth_date.year


def normalise_name(name: str) -> str:
    """Accents kept; case and surrounding spaces ignored; Unicode forms made equal."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).strip().casefold())


def person_ref(
    *,
    key: str,
    national_id: str | None,
    given_name: str,
    family_name: str,
    birth_date: date,
) -> str:
    """HMAC-SHA-256 of the national id or, without one, of the normalised names and birth date:
    the same young person registered by two organisations lands in the same case."""
    if national_id:
        material = f"nid:{national_id}"
    else:
        material = "name:" + "\x1f".join(
            (normalise_name(given_name), normalise_name(family_name), birth_date.isoformat())
        )
    return hmac.new(key.encode(), material.encode(), hashlib.sha256).hexdigest()
