"""The Dockerfile and the compose file say what the tests exercise here: the image installs and
starts through infra/deploy's scripts, and the compose services are the routing URLs of
supergraph.yaml. (No Docker engine is needed to check this; building the image needs one.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from schema.snapshots import routing_urls
from schema.subgraphs import SUBGRAPHS

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO_ROOT / "infra" / "deploy" / "compose.yaml").read_text())


def instructions(keyword: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith(keyword)]


def test_the_image_installs_and_starts_through_the_scripts_the_tests_run() -> None:
    # given the Dockerfile
    # then its build runs install.sh, its entrypoint is start.sh, its healthcheck /healthz,
    # and the process runs as a user other than root
    assert any("infra/deploy/install.sh" in run for run in instructions("RUN"))
    assert instructions("ENTRYPOINT") == ['ENTRYPOINT ["sh", "/opt/caregraph/deploy/start.sh"]']
    assert any("healthcheck.py" in check for check in instructions("HEALTHCHECK"))
    assert all(user.split()[1] != "root" for user in instructions("USER"))
    assert instructions("USER")
    # the GPU base is a CUDA 13 + cuDNN runtime (onnxruntime-gpu 1.31 is built for CUDA 13.0)
    assert "ARG RUNTIME_BASE=nvidia/cuda:13." in DOCKERFILE
    assert "cudnn-runtime" in DOCKERFILE


def test_compose_runs_each_subgraph_where_supergraph_yaml_routes_it() -> None:
    # given the routing URLs the supergraph is composed with
    urls = routing_urls()

    # then each one's host is a compose service serving that subgraph on the URL's port,
    # without migrating (one job does), next to the gateway and the shared services
    services = COMPOSE["services"]
    for spec in SUBGRAPHS:
        address = urlsplit(urls[spec.name])
        service = services[address.hostname]
        assert service["environment"]["CAREGRAPH_SUBGRAPH"] == spec.name
        assert service["environment"]["CAREGRAPH_MIGRATE"] == "0"
        assert address.port == 8000
    assert {"postgres", "redis", "livekit", "migrate", "gateway"} <= services.keys()
    assert services["gateway"]["build"]["target"] == "gateway"
