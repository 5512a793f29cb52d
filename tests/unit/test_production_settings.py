"""Production refuses secrets anyone can read: the development ones and deploy/'s placeholders."""

from __future__ import annotations

import pytest

from shared.settings import DEV_JWT_SECRET, DEV_PSEUDONYM_KEY, Settings, UnsafeSettings

OWN = "a-secret-of-our-own-with-more-than-32-characters"


def production(**values: str) -> Settings:
    return Settings(env="production", **{"jwt_secret": OWN, "pseudonym_key": OWN, **values})


def test_own_secrets_start() -> None:
    production().refuse_unsafe_production()


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("jwt_secret", DEV_JWT_SECRET, "BRUG_JWT_SECRET"),
        ("jwt_secret", "CHANGE-ME-at-least-32-random-characters", "BRUG_JWT_SECRET"),
        ("jwt_secret", "short", "BRUG_JWT_SECRET"),
        ("pseudonym_key", DEV_PSEUDONYM_KEY, "BRUG_PSEUDONYM_KEY"),
        ("pseudonym_key", "CHANGE-ME-at-least-32-random-characters", "BRUG_PSEUDONYM_KEY"),
    ],
)
def test_public_or_weak_secrets_are_refused_and_named(field: str, value: str, named: str) -> None:
    with pytest.raises(UnsafeSettings, match=named):
        production(**{field: value}).refuse_unsafe_production()


def test_with_a_jwks_the_development_secret_is_no_key_at_all() -> None:
    settings = production(jwt_secret=DEV_JWT_SECRET, jwt_jwks_url="https://idp.example/jwks")
    settings.refuse_unsafe_production()  # starts: the IdP signs the tokens...
    assert not settings.hs256_allowed()  # ...and tokens signed with the public secret are refused


def test_development_mode_keeps_the_development_secrets() -> None:
    Settings(env="development").refuse_unsafe_production()
