"""Refuse work that asks for GPUs a Ray cluster cannot give, before it waits forever for them.

    check_gpus(1, what="the generation job's vLLM replicas", fix="pass --num-gpus 0")

Ray queues a GPU task on a cluster without GPUs silently (it stays "pending"); medsyn fails at once
instead, unless some node has the GPUs now or an autoscaling group can add a node that has them. The
groups are read where Ray keeps them: the cluster config the autoscaler reports to the GCS (the source
Ray Train checks too) and the cluster launcher's `~/ray_bootstrap_config.yaml` on the head node (where
`ray job submit` runs the job's driver). Where an autoscaler v2 runs whose groups medsyn cannot read
(KubeRay), the work goes ahead with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from medsyn.errors import ConfigError

log = logging.getLogger(__name__)

BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")
"""What `ray up` leaves on the head node: the cluster.yaml its autoscaler scales by."""


@dataclass(frozen=True)
class NodeGroup:
    """An autoscaling group: its name, the GPUs of one of its nodes, and how many nodes it may have."""

    name: str
    gpus: float
    max_nodes: int  # -1: no limit


def _reported_groups() -> list[NodeGroup] | None:
    """The node groups in the cluster config the autoscaler reported to the GCS (None: none reported)."""
    from ray._private.state import state

    try:
        config = state.get_cluster_config()
    except Exception:  # an older GCS without the key, or no connection: nothing reported
        return None
    if config is None or not config.node_group_configs:
        return None
    return [
        NodeGroup(g.name, float(g.resources.get("GPU", 0)), int(g.max_count))
        for g in config.node_group_configs
    ]


def launcher_groups(path: Path = BOOTSTRAP_CONFIG) -> list[NodeGroup] | None:
    """The worker types of a cluster launcher's config (`available_node_types`); None without the file."""
    import yaml

    path = path.expanduser()
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    head = config.get("head_node_type")
    return [
        NodeGroup(name, float((spec.get("resources") or {}).get("GPU", 0)), int(spec.get("max_workers", -1)))
        for name, spec in (config.get("available_node_types") or {}).items()
        if name != head
    ]


def _autoscaler_v2_running() -> bool:
    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        return bool(is_autoscaler_v2(fetch_from_server=True))
    except Exception:
        return False


def check_gpus(gpus: float, *, what: str, fix: str, bootstrap: Path = BOOTSTRAP_CONFIG) -> str:
    """Check that the connected Ray cluster has, or can add, a node with `gpus` GPUs for `what`.

    Args:
        gpus: GPUs one worker or replica needs on one node (0: nothing to check).
        what: the work, for the message ("the generation job's vLLM replicas (--num-gpus 1)").
        fix: how to run without GPUs, for the message ("pass --num-gpus 0").
        bootstrap: the cluster launcher's config on the head node.

    Returns:
        Where the GPUs come from: "no GPU needed", "node ...", "group ..." or "autoscaler".

    Raises:
        MedsynError: no node has the GPUs and no autoscaling group can add one.
    """
    import ray

    if gpus <= 0:
        return "no GPU needed"
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    have = {n["NodeManagerAddress"]: float(n.get("Resources", {}).get("GPU", 0)) for n in nodes}
    for node, count in have.items():
        if count >= gpus:
            return f"node {node}"
    groups = _reported_groups()
    if groups is None:
        groups = launcher_groups(bootstrap)
    if groups is None and _autoscaler_v2_running():
        log.warning(
            "%s: no node has %g GPU(s) now; waiting for the autoscaler to add one (its node groups are "
            "not readable here: if none has GPUs, the work waits until cancelled)",
            what,
            gpus,
        )
        return "autoscaler"
    for group in groups or []:
        if group.gpus >= gpus and group.max_nodes != 0:
            log.info("%s: no node has %g GPU(s) now; group %s can add one", what, gpus, group.name)
            return f"group {group.name}"
    nodes_text = ", ".join(f"{node}: {count:g}" for node, count in have.items()) or "none"
    groups_text = (
        "; autoscaling groups and their GPUs per node: "
        + ", ".join(f"{g.name}: {g.gpus:g} (max {g.max_nodes} nodes)" for g in groups)
        if groups
        else "; no autoscaler can add nodes"
    )
    raise ConfigError(
        f"{what} asks for {gpus:g} GPU(s) per worker, but the Ray cluster has no node with that many "
        f"(GPUs per node: {nodes_text}{groups_text}), so it would wait forever: {fix}, or run it on a "
        "cluster with a GPU worker group (cluster.yaml's gpu_worker, the kuberay/ manifests' gpu group)"
    )
