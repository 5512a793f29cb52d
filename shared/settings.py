"""One settings object, read from `BRUG_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "brug-development-secret-change-me-0123456789"  # noqa: S105 - dev default
DEV_PSEUDONYM_KEY = "brug-development-pseudonym-key-change-me"

SERVICES = ("intake", "cases", "handover", "signals")
MIN_SECRET_LENGTH = 32
PLACEHOLDER = "CHANGE-ME"  # what deploy/ ships in place of the secrets


def _unsafe_secret(value: str, development: str) -> bool:
    return value == development or PLACEHOLDER in value or len(value) < MIN_SECRET_LENGTH


class UnsafeSettings(RuntimeError):
    """The settings would make a production deployment unsafe."""


class Settings(BaseSettings):
    """Every knob of brug; documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="BRUG_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/{service}.db",
        description="SQLAlchemy async URL; `{service}` is replaced by the service name.",
    )
    stream_prefix: str = Field(default="", description="Prefix for every stream name.")
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, description="Port of `brug serve` (one service).")
    base_port: int = Field(default=8000, description="intake listens on base+1, cases +2, ...")

    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    pseudonym_key: str = DEV_PSEUDONYM_KEY

    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 5
    consumer_batch_size: int = 100
    consumer_block_ms: int = 100
    consumer_linger_ms: int = 20
    outbox_poll_seconds: float = 1.0
    consumer_name: str | None = None

    webhook_retry_seconds: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Waits between webhook attempts (Standard Webhooks' schedule, ~27 h); "
        "after the last, the delivery goes to the dead letters.",
    )
    max_body_bytes: int = 64 * 1024
    http_max_in_flight: int = Field(
        default=1024,
        description="Requests a service holds at once; past it, 503 with Retry-After. 0: none.",
    )
    rate_limit_per_minute: int = Field(
        default=600, description="Writes per organisation per minute and service; 0: no limit."
    )
    signal_min_cases: int = 5
    retention_days: int = 5 * 365

    otel_exporter_otlp_endpoint: str | None = None
    log_level: str = "INFO"

    def hs256_allowed(self) -> bool:
        """With a JWKS, tokens signed with the development secret are not trusted: anyone can
        read that secret in this repository. HS256 stays for a secret of one's own."""
        return not (self.jwt_jwks_url and self.jwt_secret == DEV_JWT_SECRET)

    def refuse_unsafe_production(self) -> None:
        """In production, the development secrets and the deploy files' placeholders are
        refused: anyone could forge tokens with the JWT secret, or recompute person_refs with
        the pseudonym key."""
        problems = []
        if self.hs256_allowed() and _unsafe_secret(self.jwt_secret, DEV_JWT_SECRET):
            problems.append(
                "BRUG_JWT_SECRET is the development secret, a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters (set your own, or use BRUG_JWT_JWKS_URL)"
            )
        if _unsafe_secret(self.pseudonym_key, DEV_PSEUDONYM_KEY):
            problems.append(
                "BRUG_PSEUDONYM_KEY is the development key, a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters"
            )
        if self.env == "production" and problems:
            raise UnsafeSettings("refusing to start in production: " + "; ".join(problems))

    def database_url_for(self, service: str) -> str:
        """The database URL of one service (database per service)."""
        return self.database_url.replace("{service}", service)

    def port_for(self, service: str) -> int:
        """`BRUG_PORT` if set, else the service's place after the base (8001 to 8004)."""
        if self.port is not None:
            return self.port
        return self.base_port + SERVICES.index(service) + 1


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
