"""Ray Serve entrypoint: `serve run serve.app:build_app` (defaults) or `serve run serve/config.yaml`.

    serve run serve.app:build_app model=smollm2-135m-instruct kg=demo
    serve deploy serve/config.yaml            # on a running cluster (RAY_ADDRESS / dashboard address)

The application itself lives in medsyn.serving (importable without this directory).
"""

from medsyn.serving.app import build_app

__all__ = ["build_app"]
