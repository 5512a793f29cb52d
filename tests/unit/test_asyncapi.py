"""`brug asyncapi`: every event type on its stream, with its payload schema."""

from __future__ import annotations

import json
import subprocess
import sys

from shared.events.contracts import EVENT_MODELS
from shared.events.envelope import event_type


def test_brug_asyncapi_documents_every_event() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "asyncapi"],
        capture_output=True,
        text=True,
        check=True,
    )
    document = json.loads(result.stdout)
    assert document["asyncapi"].startswith("3.")
    channels = document["channels"]
    for name in EVENT_MODELS:
        assert event_type(name) in channels, name
    assert channels["brug.case.blocked.v1"]["address"] == "brug.cases"
    assert channels["brug.partner.offer.v1"]["address"] == "brug.partner.{partner_id}"
    schemas = json.dumps(document["components"])
    for field in ("blockers", "routes_tried", "traceparent", "specversion"):
        assert field in schemas
