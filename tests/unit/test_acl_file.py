"""The ACL file that deploy/ carries says what brug generates, for every service."""

from pathlib import Path

from shared.acl import partner_rules, service_rules
from shared.settings import SERVICES

ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "redis" / "users.acl"


def test_the_deployed_acl_file_has_the_generated_rules() -> None:
    lines = {
        line.split()[1]: line
        for line in ACL_FILE.read_text().splitlines()
        if line.startswith("user ")
    }
    assert lines["default"] == "user default off"
    for service in SERVICES:
        assert lines[f"brug-{service}"].endswith(service_rules(service))
    assert lines["partner-vdab"].endswith(partner_rules("vdab"))
