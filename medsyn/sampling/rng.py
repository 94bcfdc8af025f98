"""Counter-based randomness: every draw is a pure function of (run seed, row index, stream).

A row's plan therefore never depends on how rows are batched or sharded, and numpy computes a whole
batch at once (splitmix64 over uint64 arrays).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_2_POW_53 = float(2**53)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def row_seeds(run_seed: int, rows: np.ndarray) -> np.ndarray:
    """One 64-bit seed per row index."""
    base = splitmix64(np.array([run_seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    return splitmix64(base ^ splitmix64(rows.astype(np.uint64)))


def uniform(seeds: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), one per seed (broadcasts against an array of streams)."""
    z = splitmix64(seeds ^ splitmix64(np.asarray(stream, dtype=np.uint64) + np.uint64(1)))
    return (z >> np.uint64(11)).astype(np.float64) / _2_POW_53
