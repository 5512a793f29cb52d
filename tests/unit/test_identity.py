"""National register / BIS numbers and person_ref (SPEC section 4)."""

from datetime import date

import pytest

from services.intake.identity import InvalidNationalId, person_ref, validate_national_id
from tests.factories import national_id


@pytest.mark.parametrize(
    "birth", [date(1999, 12, 31), date(2000, 1, 1), date(2016, 3, 14), date(1985, 7, 30)]
)
def test_valid_numbers_before_and_after_2000(birth: date) -> None:
    number = national_id(birth, 123)
    assert validate_national_id(number, birth) == number


def test_bis_number_for_a_newcomer() -> None:
    birth = date(2011, 6, 2)
    number = national_id(birth, 45, bis=True)
    assert validate_national_id(number, birth) == number


def test_formatted_number_is_compacted() -> None:
    assert validate_national_id("16.03.14-123.37", date(2016, 3, 14)) == "16031412337"


def test_wrong_checksum_is_refused() -> None:
    with pytest.raises(InvalidNationalId, match="modulo-97"):
        validate_national_id("16031412338", None)


def test_post_2000_birth_needs_the_2000_checksum() -> None:
    birth = date(2005, 5, 5)
    number = national_id(birth, 7)
    pre_2000_check = 97 - int(number[:9]) % 97
    forged = f"{number[:9]}{pre_2000_check:02d}"
    assert forged != number
    with pytest.raises(InvalidNationalId):
        validate_national_id(forged, birth)


def test_birth_date_must_agree() -> None:
    with pytest.raises(InvalidNationalId, match="birth date"):
        validate_national_id("16031412337", date(2016, 3, 15))


KEY = "test-key"


def test_person_ref_ignores_case_and_surrounding_spaces_but_keeps_accents() -> None:
    birth = date(2010, 1, 1)
    ref = person_ref(
        key=KEY, national_id=None, given_name="Élise", family_name="Peeters", birth_date=birth
    )
    same = person_ref(
        key=KEY, national_id=None, given_name="  élise ", family_name="PEETERS", birth_date=birth
    )
    no_accent = person_ref(
        key=KEY, national_id=None, given_name="Elise", family_name="Peeters", birth_date=birth
    )
    assert ref == same
    assert ref != no_accent


def test_person_ref_equates_composed_and_decomposed_accents() -> None:
    birth = date(2010, 1, 1)
    composed = person_ref(
        key=KEY, national_id=None, given_name="Zoë", family_name="X", birth_date=birth
    )
    decomposed = person_ref(
        key=KEY, national_id=None, given_name="Zoe\u0308", family_name="X", birth_date=birth
    )
    assert composed == decomposed


def test_person_ref_is_keyed_and_prefers_the_national_id() -> None:
    birth = date(2016, 3, 14)
    a = person_ref(
        key=KEY, national_id="16031412337", given_name="A", family_name="B", birth_date=birth
    )
    b = person_ref(
        key=KEY, national_id="16031412337", given_name="C", family_name="D", birth_date=birth
    )
    other_key = person_ref(
        key="other", national_id="16031412337", given_name="A", family_name="B", birth_date=birth
    )
    assert a == b
    assert a != other_key
    assert "16031412337" not in a
    assert len(a) == 64
