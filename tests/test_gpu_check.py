"""Work that asks for GPUs a Ray cluster cannot give fails at once, naming what to change; a cluster
that has the GPUs, or an autoscaling group that can add them, lets it through."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from medsyn.errors import MedsynError
from medsyn.gpu_check import NodeGroup, check_gpus, launcher_groups

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def reported_config(ray_local) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Put an autoscaler's cluster config into the running Ray's GCS (where the autoscaler reports its
    node groups), removed again afterwards."""
    import ray
    from ray.core.generated import autoscaler_pb2

    gcs = ray._private.worker.global_worker.gcs_client  # the connected driver's own GCS client
    namespace = ray._raylet.GCS_AUTOSCALER_STATE_NAMESPACE.encode()
    key = ray._raylet.GCS_AUTOSCALER_CLUSTER_CONFIG_KEY.encode()

    def report(groups: dict[str, tuple[dict[str, int], int]]) -> None:
        config = autoscaler_pb2.ClusterConfig()
        for name, (resources, max_count) in groups.items():
            group = config.node_group_configs.add(name=name, max_count=max_count)
            group.resources.update(resources)
        gcs.internal_kv_put(key, config.SerializeToString(), True, namespace)

    yield report
    gcs.internal_kv_del(key, False, namespace)


@pytest.mark.integration
def test_a_static_cluster_without_gpus_refuses_gpu_work_at_once(ray_local) -> None:  # type: ignore[no-untyped-def]
    assert check_gpus(0, what="x", fix="y") == "no GPU needed"
    start = time.perf_counter()
    with pytest.raises(MedsynError) as err:
        check_gpus(1, what="the generation job's vllm replicas", fix="pass --num-gpus 0 to generate on CPUs")
    message = str(err.value)
    assert "asks for 1 GPU(s)" in message and re.search(r"GPUs per node: [\d.]+: 0;", message)
    assert "no autoscaler can add nodes" in message and "pass --num-gpus 0" in message
    assert time.perf_counter() - start < 10


@pytest.mark.integration
def test_an_autoscaling_group_with_gpus_lets_the_work_wait_for_it(reported_config) -> None:  # type: ignore[no-untyped-def]
    reported_config({"cpu": ({"CPU": 8}, 8), "gpu": ({"CPU": 8, "GPU": 1}, 4)})
    assert check_gpus(1, what="x", fix="y") == "group gpu"
    with pytest.raises(MedsynError, match=r"gpu: 1 \(max 4 nodes\)"):
        check_gpus(2, what="x", fix="y")  # no group has 2 GPUs on one node
    reported_config({"cpu": ({"CPU": 8}, 8), "gpu": ({"CPU": 8, "GPU": 1}, 0)})  # a group that may not grow
    with pytest.raises(MedsynError, match="autoscaling groups and their GPUs per node: cpu: 0"):
        check_gpus(1, what="x", fix="y")


@pytest.mark.integration
def test_the_launchers_bootstrap_config_is_read_for_its_groups(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    """medsyn's own cluster.yaml, as `ray up` prepares it for the head (~/ray_bootstrap_config.yaml)."""
    from ray.autoscaler._private.util import prepare_config

    prepared = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(yaml.safe_dump(prepared))
    groups = launcher_groups(path)
    assert groups is not None and NodeGroup("gpu_worker", 1.0, 4) in groups
    assert "head" not in {g.name for g in groups}
    assert check_gpus(1, what="x", fix="y", bootstrap=path) == "group gpu_worker"
    del prepared["available_node_types"]["gpu_worker"]
    path.write_text(yaml.safe_dump(prepared))
    with pytest.raises(MedsynError, match="cpu_worker: 0"):
        check_gpus(1, what="x", fix="y", bootstrap=path)
    assert launcher_groups(tmp_path / "missing.yaml") is None


@pytest.mark.integration
def test_jobs_and_serve_refuse_gpus_the_cluster_cannot_give(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    from medsyn.models import DEFAULT_MODEL
    from medsyn.pipeline.generate import GenerateConfig, run_generate
    from medsyn.serving.app import llm_config
    from medsyn.serving.config import ServeConfig

    config = GenerateConfig(
        kg="demo", codes=["J06"], n=2, language="en", engine="hf", num_gpus=1, out=str(tmp_path / "run")
    )
    with pytest.raises(MedsynError, match="generation job's hf replicas asks for 1 GPU.*--num-gpus 0"):
        run_generate(config, progress=False)
    serve = ServeConfig(engine="hf", model=DEFAULT_MODEL, language="en", num_gpus=1)
    with pytest.raises(MedsynError, match="Serve app's generator replicas.*num_gpus: 0"):
        llm_config(serve, {})
    assert llm_config(ServeConfig(engine="hf", model=DEFAULT_MODEL, language="en", num_gpus=0), {})
