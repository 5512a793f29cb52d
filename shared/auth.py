"""JWT bearer authentication and the roles of SPEC section 3."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

import jwt
import jwt.types
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.settings import Settings, get_settings


class Role(StrEnum):
    case_worker = "case_worker"
    partner = "partner"
    analyst = "analyst"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: user, role and organisation, from a verified token."""

    sub: str
    role: Role
    org: str


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why, without echoing it."""


REQUIRED_CLAIMS = ["sub", "role", "org", "exp"]


def make_token(*, role: str, org: str, sub: str, secret: str, ttl_seconds: int = 8 * 3600) -> str:
    """A development token (HS256), as `brug token` prints."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": Role(role).value,
        "org": org,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url)


@lru_cache(maxsize=4)
def _jwks_file(path: str) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_json(Path(path).read_text())


def _rs256_key(token: str, jwks: str) -> Any:
    """The signing key named by the token's `kid`, from a JWKS URL or a local JWKS file."""
    if jwks.startswith(("http://", "https://")):
        return _jwks_client(jwks).get_signing_key_from_jwt(token).key
    path = unquote(urlparse(jwks).path) if jwks.startswith("file://") else jwks
    kid = jwt.get_unverified_header(token).get("kid")
    keys = _jwks_file(path).keys
    for key in keys:
        if kid is None or key.key_id == kid:
            return key.key
    raise jwt.InvalidKeyError("no key in the JWKS matches the token's kid")


# Verified tokens, kept a short while: a case worker sends many requests with one token, and
# verifying it each time was a tenth of intake's work per registration. An entry lasts until
# the token expires or for VERIFIED_SECONDS, whichever is sooner; it names the settings it was
# verified under, so another secret or key set verifies again.
VERIFIED_SECONDS = 60.0
VERIFIED_MAX = 4096
_verified: dict[tuple[str, str, str | None, str | None], tuple[Principal, float]] = {}


def decode_token(token: str, settings: Settings) -> Principal:
    """Verify signature, expiry and claims; HS256 with the shared secret or RS256 via JWKS."""
    key = (token, settings.jwt_secret, settings.jwt_jwks_url, settings.jwt_audience)
    now = time.time()
    known = _verified.get(key)
    if known is not None and now < known[1]:
        return known[0]
    principal, expires = _verify(token, settings)
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[key] = (principal, min(expires, now + VERIFIED_SECONDS))
    return principal


def _verify(token: str, settings: Settings) -> tuple[Principal, float]:
    """The principal a token names, and when it expires (or InvalidToken)."""
    try:
        header = jwt.get_unverified_header(token)
        options: jwt.types.Options = {"require": REQUIRED_CLAIMS}
        audience = settings.jwt_audience
        if header.get("alg") == "RS256" and settings.jwt_jwks_url:
            key = _rs256_key(token, settings.jwt_jwks_url)
            claims = jwt.decode(
                token, key, algorithms=["RS256"], options=options, audience=audience
            )
        elif settings.hs256_allowed():
            claims = jwt.decode(
                token,
                settings.jwt_secret,
                algorithms=["HS256"],
                options=options,
                audience=audience,
            )
        else:
            raise jwt.InvalidAlgorithmError("only RS256 tokens from the JWKS are accepted")
    except (jwt.PyJWTError, OSError) as exc:
        raise InvalidToken(type(exc).__name__) from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise InvalidToken("unknown role") from exc
    if not isinstance(claims["org"], str) or not claims["org"]:
        raise InvalidToken("org claim must be a non-empty string")
    return Principal(sub=str(claims["sub"]), role=role, org=claims["org"]), float(claims["exp"])


_bearer = HTTPBearer(auto_error=False)


async def authenticated(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return decode_token(credentials.credentials, get_settings())
    except InvalidToken as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"invalid token: {exc}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only `roles` (403 for the others)."""

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this role may not do that")
        request.state.principal = principal
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await rate_limit(request, principal)
        return principal

    return dependency


def rate_key_prefix(stream_prefix: str, service: str) -> str:
    """Where a service keeps its write counters (its Redis ACL user may touch only these)."""
    return f"{stream_prefix}brug:rate:{service}:"


async def rate_limit(request: Request, principal: Principal) -> None:
    """At most `BRUG_RATE_LIMIT_PER_MINUTE` writes per organisation per minute and service,
    counted in Redis so that every replica shares the count; then 429 with Retry-After."""
    settings = get_settings()
    limit = settings.rate_limit_per_minute
    runtime = getattr(request.app.state, "runtime", None)
    if limit <= 0 or runtime is None:
        return
    now = int(time.time())
    window = now // 60
    key = f"{rate_key_prefix(settings.stream_prefix, runtime.service)}{principal.org}:{window}"
    # SET NX EX then INCR: two keyed commands (no MULTI, no script), so the service's Redis
    # ACL user needs only +set +incrby (redis-py's INCR) on its own rate keys; the key
    # expires even if we crash.
    async with runtime.redis.pipeline(transaction=False) as pipe:
        pipe.set(key, 0, ex=120, nx=True)
        pipe.incr(key)
        _, count = await pipe.execute()
    if count > limit:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"more than {limit} changes a minute from your organisation; try again shortly",
            headers={"Retry-After": str(60 - now % 60)},
        )


CaseWorker = Annotated[Principal, Depends(require(Role.case_worker))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
