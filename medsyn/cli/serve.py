"""`medsyn serve`: start the OpenAI-compatible endpoint (vLLM replicas + /v1/notes) on Ray Serve."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from rich.console import Console

from medsyn.cli.command import add_command
from medsyn.serving.config import ServeConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "serve",
        ServeConfig,
        cmd_serve,
        help="serve the generator behind an OpenAI-compatible endpoint (Ray Serve)",
        description="Start medsyn's Serve application on a local Ray (or $RAY_ADDRESS) and wait; Ctrl-C "
        "stops it gracefully. Auth is on when $MEDSYN_API_KEY (or --api-key-file) holds a key.",
    )


def start(config: ServeConfig) -> str:
    """Deploy the app and return its base URL once every replica is up."""
    from ray import serve

    from medsyn.ray_env import init_ray
    from medsyn.serving.app import build_app

    init_ray(config.ray_address)
    serve.start(
        http_options={"host": config.host, "port": config.port, "request_timeout_s": config.request_timeout_s}
    )
    serve.run(build_app(config), name="medsyn", route_prefix="/", blocking=False)
    return f"http://{config.host}:{config.port}/v1"


def cmd_serve(config: ServeConfig, args: argparse.Namespace) -> int:
    from ray import serve

    console = Console(stderr=True)
    console.print(f"starting {config.served_name} (replicas start in about a minute on a CPU)...")
    url = start(config)
    console.print(f"[bold]serving[/bold] {config.served_name} at {url} (models, completions, chat, notes)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    console.print("shutting down...")
    serve.shutdown()
    return 0
