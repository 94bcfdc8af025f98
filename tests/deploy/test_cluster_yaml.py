"""cluster.yaml passes the checks `ray up` runs before it launches anything (prepare_config, then
validate_config), and the mistakes users make in it fail them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _check(config: dict[str, Any]) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_validates_as_ray_up_does(config: dict[str, Any]) -> None:
    _check(config)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    # The head runs no work; GPU work has a group of its own that scales from 0; CPU work another.
    assert head["resources"] == {"CPU": 0, "GPU": 0} and head["max_workers"] == 0
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [
        t for name, t in types.items() if name != config["head_node_type"] and not t["resources"].get("GPU")
    ]
    assert len(gpu) == 1 and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] >= 1
    assert len(cpu) == 1 and cpu[0]["max_workers"] >= cpu[0]["min_workers"]
    # medsyn with the GPU extra, at the pinned versions, from the mounted repository.
    assert any("scripts/install.sh gpu" in c for c in config["setup_commands"])
    # Token auth on every node, with the token mounted; Serve's and the dashboard's ports are open.
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if "ray start" in c)
    assert any(dst.endswith(".ray/auth_token") for dst in config["file_mounts"])
    ports = {p["FromPort"] for p in config["provider"]["security_group"]["IpPermissions"]}
    assert {8000, 8265} <= ports


def _without(config: dict[str, Any], *path: str) -> dict[str, Any]:
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return bad


def _with(config: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda c: _with(c, 2, "max_workerz"), "max_workerz"),  # a typo at the top level
        (lambda c: _with(c, "gpu", "head_node_type"), "head_node_type"),  # head not among the types
        (lambda c: _with(c, "1", "available_node_types", "gpu_worker", "resources", "GPU"), "'1'"),
        (lambda c: _with(c, 0, "available_node_types", "cpu_worker", "min_wokers"), "min_wokers"),
        (lambda c: _without(c, "available_node_types", "gpu_worker", "node_config"), "node_config"),
        (lambda c: _with(c, 0, "max_workers"), "max_workers"),  # fewer than the groups' min_workers
    ],
)
def test_mistakes_fail_the_check(config: dict[str, Any], mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match=match):
        _check(mutate(config))
