"""Redis ACL users: each service touches only its own streams and groups, each partner reads
only its own stream. The rules use Redis 7 selectors: a set of commands on a set of keys."""

from __future__ import annotations

from shared.auth import rate_key_prefix
from shared.events.streams import DEADLETTER, PUBLISHING_STREAMS

CONNECT = "+ping +hello +auth +client|setname +client|id +info +select"
PUBLISH = "+xadd +xinfo|stream +xlen +xtrim"  # xtrim: entries past the retention period
RATE_LIMIT = "+set +incrby"
CONSUME = (
    "+xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create +xgroup|createconsumer "
    "+xinfo|groups +xinfo|stream +xrange"
)
# The streams each service reads with its own consumer group.
CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": ("cases", "handover"),
    "cases": ("intake", "handover"),
    "handover": ("cases",),
    "signals": ("cases", "handover"),
}


def _keys(prefix: str, *names: str) -> str:
    return " ".join(f"~{prefix}{name}" for name in names)


def service_rules(service: str, prefix: str = "") -> str:
    """What a service's Redis user may do: publish to its stream (and, for handover, to the
    partner streams), consume with its group, write dead letters and count its writes per
    organisation (the rate limit)."""
    own = [PUBLISHING_STREAMS[service], DEADLETTER]
    if service == "handover":
        own.append("brug.partner.*")
    consumed = [PUBLISHING_STREAMS[s] for s in CONSUMES[service]]
    return (
        f"resetkeys resetchannels -@all {CONNECT} "
        f"({_keys(prefix, *own)} {PUBLISH}) "
        f"({_keys(prefix, *consumed)} {CONSUME}) "
        f"(~{rate_key_prefix(prefix, service)}* {RATE_LIMIT})"
    )


def partner_rules(partner_id: str, prefix: str = "") -> str:
    """A partner reads its own stream only (with a consumer group of its own, if it likes);
    it cannot write events, delete entries or see any other key."""
    return (
        f"resetkeys resetchannels -@all {CONNECT} "
        f"({_keys(prefix, f'brug.partner.{partner_id}')} +xread {CONSUME} +xrevrange)"
    )


def user_line(name: str, rules: str, password: str) -> str:
    """A line for an ACL file (`aclfile` in redis.conf)."""
    return f"user {name} on >{password} {rules}"
