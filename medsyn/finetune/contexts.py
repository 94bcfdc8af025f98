"""Where the training loop runs: on a Ray Train worker (`RayTrainContext`) or in this process
(`LocalContext`, the baseline of benchmarks/bench_finetune.py). Both give the loop rank, world size,
device, DDP wrapping, the samples, checkpoints and reports."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsyn.finetune.batches import sorted_samples


class RayTrainContext:
    """What the loop needs from Ray Train: rank, world size, device, DDP, checkpoints and reports."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.local_world = ctx.get_local_world_size()
        self.device = ray.train.torch.get_device()

    def prepare(self, model: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_model(model, move_to_device=False) if self.world > 1 else model

    def samples(self, split: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
        """A split of the dataset, whole, read by this worker from the dataset's storage (a local path
        on a shared disk, or a URI). Every worker takes its own share of each epoch (`epoch_batches`),
        so nothing is sharded here: a Ray Data pipeline per worker would only compete with training
        for the cores (it cost the first steps about a tenth of their speed, bench_finetune)."""
        from medsyn.finetune.config import read_split
        from medsyn.storage import Location

        return sorted_samples(read_split(Location.parse(cfg["dataset"], option="--dataset"), split))

    @contextlib.contextmanager
    def latest_checkpoint(self) -> Iterator[str | None]:
        """This run's latest checkpoint (after a worker failure) as a local directory while the block
        runs, or None: a checkpoint on object storage is downloaded to a temporary directory that Ray
        removes afterwards; a local one is read in place."""
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield directory

    def report(self, metrics: dict[str, Any], directory: str | None) -> None:
        import ray.train

        ray.train.report(
            metrics, checkpoint=ray.train.Checkpoint.from_directory(directory) if directory else None
        )


class LocalContext:
    """The same loop in this process, without Ray (one worker; the baseline of bench_finetune)."""

    def __init__(self, out: Path) -> None:
        import torch

        self.rank, self.world, self.local_world = 0, 1, 1
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.out, self.reports = out, []  # type: ignore[var-annotated]

    def prepare(self, model: Any) -> Any:
        return model

    def samples(self, split: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
        return list(cfg[split])

    @contextlib.contextmanager
    def latest_checkpoint(self) -> Iterator[str | None]:
        yield None

    def report(self, metrics: dict[str, Any], directory: str | None) -> None:
        self.reports.append(metrics)
        if directory:
            shutil.rmtree(self.out, ignore_errors=True)
            shutil.copytree(directory, self.out)
