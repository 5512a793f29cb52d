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


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin), else `docker-compose` (Debian's package), else None."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_validates_it_where_docker_compose_exists() -> None:
    command = compose_command()
    if command is None:
        # No compose here (a docker client without its plugin): the structure is checked above.
        assert compose()["services"]
        return
    result = subprocess.run(
        [*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={"BRUG_JWT_SECRET": "x" * 40, "BRUG_PSEUDONYM_KEY": "y" * 40, "PATH": "/usr/bin"},
    )
    assert result.returncode == 0, result.stderr


K8S = DEPLOY / "k8s"


def kustomization() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((K8S / "kustomization.yaml").read_text()))


def listed_documents() -> list[dict]:  # type: ignore[type-arg]
    """Every document of every file kustomization.yaml lists, as written."""
    return [
        doc
        for name in kustomization()["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc is not None
    ]


def built_documents() -> list[dict] | None:  # type: ignore[type-arg]
    """What `kubectl apply -k deploy/k8s` would send, where kubectl or kustomize is here."""
    for command in (["kubectl", "kustomize"], ["kustomize", "build"]):
        if shutil.which(command[0]) is None:
            continue
        result = subprocess.run(
            [*command, str(K8S)], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    return None


def test_kustomization_lists_every_manifest_in_the_folder() -> None:
    """A manifest left out of kustomization.yaml is neither applied nor validated below."""
    listed = kustomization()["resources"]
    on_disk = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(on_disk)
    assert len(listed) == len(set(listed))


def test_the_kubernetes_manifests_are_valid_and_complete() -> None:
    """Every document, as listed and (where a kustomize is at hand) as built, passes the
    Kubernetes 1.30 schemas strictly, and together they are a whole deployment."""
    import kubernetes_validate

    listed = listed_documents()
    built = built_documents()
    for doc in [*listed, *(built or [])]:
        kubernetes_validate.validate(doc, "1.30", strict=True)

    def names(docs: list[dict]) -> set[tuple[str, str]]:  # type: ignore[type-arg]
        return {(d["kind"], d["metadata"]["name"]) for d in docs}

    if built is not None:
        assert names(built) == names(listed)  # the build drops nothing, adds nothing
        namespace = kustomization()["namespace"]
        assert all(d["metadata"].get("namespace", namespace) == namespace for d in built)
    docs = built or listed
    kinds: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for doc in docs:
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


def test_the_shutdown_budget_fits_the_grace_periods() -> None:
    """SIGTERM to exit takes at most the runtime's budget plus the last spans' second: under
    10 s, and under what Kubernetes and compose wait before they SIGKILL."""
    from shared.cli.serve import SPAN_FLUSH_SECONDS
    from shared.runtime import (
        CLOSE_RESERVE_SECONDS,
        HTTP_DRAIN_SECONDS,
        RELAY_RESERVE_SECONDS,
        SHUTDOWN_SECONDS,
    )

    worst = SHUTDOWN_SECONDS + SPAN_FLUSH_SECONDS
    assert worst < 10
    assert HTTP_DRAIN_SECONDS + RELAY_RESERVE_SECONDS + CLOSE_RESERVE_SECONDS < SHUTDOWN_SECONDS
    for doc in listed_documents():
        if doc["kind"] == "Deployment":
            assert doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > worst
    stop_grace = compose()["x-brug"]["stop_grace_period"]
    assert stop_grace.endswith("s")
    assert float(stop_grace.removesuffix("s")) > worst


def test_the_otlp_endpoint_the_config_names_is_documented() -> None:
    """The ConfigMap sends spans to a collector these manifests do not deploy: the README must
    say where it is expected and what to do about it."""
    [config] = [
        d
        for d in listed_documents()
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "brug-config"
    ]
    endpoint = config["data"].get("BRUG_OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint is None:
        return  # nothing exported: nothing to document
    readme = " ".join((K8S / "README.md").read_text().split())
    assert endpoint in readme
    host = endpoint.split("//", 1)[1].split(":", 1)[0]
    service, namespace = host.split(".")[:2]
    shipped = any(
        d["kind"] == "Service"
        and d["metadata"]["name"] == service
        and d["metadata"].get("namespace") == namespace
        for d in listed_documents()
    )
    assert shipped or "do not deploy that collector" in readme
