"""What deploy/ promises an ops team, checked: image, compose file, Redis persistence."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("intake", "cases", "handover", "signals")


def compose() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_the_image_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2
    assert all("slim" in stage for stage in stages)
    final = dockerfile.rsplit(stages[1], 1)[1]
    assert "USER brug" in final
    assert "HEALTHCHECK" in final
    assert "pip install" not in final  # built in the first stage only
    assert "tests" in (DEPLOY.parent / ".dockerignore").read_text()


def test_compose_runs_everything_in_order_with_healthchecks() -> None:
    spec = compose()
    services = spec["services"]
    assert {"redis", "postgres", "otel-collector", "jaeger", "migrate", *SERVICES} <= set(services)
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["BRUG_REDIS_URL"].startswith(f"redis://brug-{name}:")
        assert service["environment"]["BRUG_ENV"] == "production"
    for name in ("redis", "postgres"):
        assert "healthcheck" in services[name]
    assert services["migrate"]["command"] == ["migrate"]
    init = (DEPLOY / "postgres" / "init.sql").read_text()
    assert all(f"CREATE DATABASE brug_{s};" in init for s in SERVICES)


def test_redis_keeps_an_aof_and_loads_the_acl_users() -> None:
    conf = (DEPLOY / "redis" / "redis.conf").read_text()
    assert "appendonly yes" in conf
    assert "appendfsync everysec" in conf
    assert "aclfile /etc/redis/users.acl" in conf


def test_docker_compose_validates_it_where_docker_compose_exists() -> None:
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_compose:
        # This machine's docker client has no compose plugin: the structure is checked above.
        assert compose()["services"]
        return
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={"BRUG_JWT_SECRET": "x" * 40, "BRUG_PSEUDONYM_KEY": "y" * 40, "PATH": "/usr/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_the_kubernetes_manifests_are_valid_and_complete() -> None:
    import kubernetes_validate

    k8s = DEPLOY / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    files = kustomization["resources"]
    kinds: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for name in files:
        for doc in yaml.safe_load_all((k8s / name).read_text()):
            kubernetes_validate.validate(doc, "1.30", strict=True)
            kinds.setdefault(doc["kind"], []).append(doc)
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    } <= set(kinds)
    deployments = {d["metadata"]["name"]: d for d in kinds["Deployment"]}
    assert set(deployments) == {f"brug-{s}" for s in SERVICES}
    for deployment in deployments.values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in kinds["HorizontalPodAutoscaler"]}
    assert targets == set(deployments)
    assert kinds["Job"][0]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
