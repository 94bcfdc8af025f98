"""Kill a job mid-way: run a `jobs/` script as a second driver of the test's Ray cluster and SIGKILL it
once a condition holds (Ray then ends the driver's actors and tasks with it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kill_job_when(script: str, args: list[str], ready: Callable[[], bool], *, timeout: float = 300) -> None:
    """Start `python jobs/<script> args...` on the running Ray; SIGKILL it as soon as `ready()` holds."""
    import ray

    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "jobs" / script), *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + timeout
        while not ready():
            assert proc.poll() is None, f"jobs/{script} ended before it could be killed"
            assert time.time() < deadline, f"jobs/{script} was not ready to be killed after {timeout:.0f} s"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
