"""The README and the docs site: the README stays short and its links resolve, its Serve snippet names a
model the command above it serves, the site builds strictly with the CLI and API references, and a real
headless browser renders its pages."""

from __future__ import annotations

import ast
import functools
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from medsyn.cli.command import from_args
from medsyn.cli.main import build_parser
from medsyn.serving.config import ServeConfig

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# MkDocs 1.6 and mkdocs-material print a banner about MkDocs 2.0 on every build; it is not ours to act on.
DOCS_ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def test_the_readme_is_short_and_its_links_resolve() -> None:
    assert len(README.splitlines()) < 200
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    assert links, "the README links to the docs"
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    # Every guide the issue names is linked from the README.
    guides = ("generation", "quality", "evaluation", "finetuning", "serving", "clusters", "mkg", "storage")
    for guide in guides:
        assert f"docs/guides/{guide}.md" in links


def test_the_readme_serve_snippet_names_a_model_its_command_serves() -> None:
    """The python block under `medsyn serve ...` calls a model that command serves, on its port."""
    tour = README.split("**Serve.**", 1)[1]
    command = next(line.strip() for line in tour.splitlines() if "medsyn serve" in line)
    argv = shlex.split(command)[1:]  # drop .venv/bin/medsyn
    args = build_parser().parse_args(argv)
    config = from_args(ServeConfig, args)
    served = {config.served_name} | {f"{config.served_name}:{a.split('=')[0]}" for a in config.adapters}
    snippet = tour.split("```python\n", 1)[1].split("```", 1)[0]
    ast.parse(snippet)  # valid Python as written
    model = re.search(r'model="([^"]+)"', snippet)
    assert model and model.group(1) in served, (model, served)
    assert f"127.0.0.1:{config.port}/v1" in snippet
    # The default app answers chat with its generator: the snippet uses chat, which needs the template.
    assert "chat.completions.create" in snippet and config.notes_model == model.group(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mkdocs build --strict`, as a user runs it, into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=DOCS_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_site_builds_strictly_with_every_guide_and_reference(site: Path) -> None:
    pages = ["getting-started", "results", "benchmarks", "reference/cli", "reference/layout"]
    pages += [f"guides/{g}" for g in ("generation", "quality", "evaluation", "finetuning", "serving")]
    pages += [f"guides/{g}" for g in ("clusters", "mkg", "storage", "generator")]
    for page in pages:
        assert (site / page / "index.html").is_file(), page
    # The CLI reference is every parser's --help, subcommands included.
    cli = (site / "reference/cli/index.html").read_text()
    for command in ("kg build", "generate", "quality", "evaluate", "serve", "finetune"):
        assert f"medsyn {command}" in cli
    assert "--guidance-scale" in cli and "--negative-prompt" in cli
    # The API reference shows each public name from its docstring, where it is defined.
    api = (site / "reference/api/kg/index.html").read_text()
    assert 'id="medsyn.kg.open_kg"' in api and "Open a Medical Knowledge Graph" in api
    # The journals moved out of the README are in the site.
    assert "Guided decoding" in (site / "results-findings/index.html").read_text()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log in the test's output."""


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    """The built site on 127.0.0.1 (a port of its own), stopped by its handle."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Debian's chromium, headless, with an empty profile and no background network."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: scripts/test.sh installs Debian's chromium"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
        "--virtual-time-budget=5000",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.integration
@pytest.mark.parametrize("page", ["", "guides/generation/"])
def test_a_browser_renders_the_pages(site_url: str, page: str, tmp_path: Path) -> None:
    """The rendered page (scripts run) has the content and the navigation; a screenshot is kept for a
    person to look at (MEDSYN_SCREENSHOTS=DIR keeps it there)."""
    dom = _chromium(tmp_path, "--dump-dom", f"{site_url}/{page}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "md-nav" in html and "Getting started" in html and "Clusters and KubeRay" in html
    if page:
        assert "Guided decoding" in html and "--guidance-scale" in html
    else:
        assert "Medical Knowledge" in html
    name = page.strip("/").replace("/", "-") or "home"
    shot = Path(os.environ.get("MEDSYN_SCREENSHOTS", tmp_path)) / f"docs-{name}.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", f"{site_url}/{page}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
