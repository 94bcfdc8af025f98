"""Look at the processes a test's Ray starts: their titles and environments (psutil)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil


def title(p: psutil.Process) -> str:
    """A process's command line as one string ('' once it is gone)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


@contextmanager
def environments_of(
    marker: str, *, parent: str = "", every_s: float = 0.2
) -> Iterator[dict[int, dict[str, str]]]:
    """While the block runs, record the environment of every process whose title starts with `marker`
    and whose parent's title contains `parent` (by pid): for processes that live only during the
    block, such as the engines of a Ray Data job's stage actors."""
    seen: dict[int, dict[str, str]] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every_s):
            for p in psutil.process_iter():
                if p.pid not in seen and title(p).startswith(marker):
                    with suppress(psutil.Error):
                        if parent in title(p.parent()):
                            seen[p.pid] = p.environ()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
