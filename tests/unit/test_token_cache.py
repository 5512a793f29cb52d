"""Verified tokens are kept a short while, never past their expiry, and never for settings
other than those they were verified under."""

from __future__ import annotations

import time

import pytest

from shared import auth
from shared.settings import DEV_JWT_SECRET, Settings


def test_a_kept_token_is_verified_again_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    token = auth.make_token(
        role="case_worker", org="clb-gent", sub="u", secret=DEV_JWT_SECRET, ttl_seconds=30
    )
    verified = 0
    real = auth._verify

    def counting(token: str, settings: Settings) -> tuple[auth.Principal, float]:
        nonlocal verified
        verified += 1
        return real(token, settings)

    monkeypatch.setattr(auth, "_verify", counting)
    first = auth.decode_token(token, settings)
    assert auth.decode_token(token, settings) == first
    assert verified == 1  # the second request did not verify again

    later = time.time() + 31  # past the token's expiry
    monkeypatch.setattr(auth.time, "time", lambda: later)
    auth.decode_token(token, settings)  # (PyJWT's own clock has not moved, so it passes)
    assert verified == 2  # not served from what was kept


def test_a_kept_token_does_not_outlive_a_change_of_secret() -> None:
    token = auth.make_token(role="case_worker", org="clb-gent", sub="u", secret=DEV_JWT_SECRET)
    auth.decode_token(token, Settings())
    rotated = Settings(jwt_secret="another-secret-of-at-least-thirty-two-characters")
    with pytest.raises(auth.InvalidToken):
        auth.decode_token(token, rotated)
