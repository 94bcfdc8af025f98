"""Start and stop a real local Neo4j Community server (5.26 LTS, Java 17) for tests and development.

    python scripts/neo4j/server.py start --dir /tmp/medsyn-neo4j [--port 7687] [--password PW] [--lean]
    python scripts/neo4j/server.py stop --dir /tmp/medsyn-neo4j

The jars are resolved once from Maven Central into scripts/neo4j/lib (cached in ~/.m2). `start` binds
Bolt to 127.0.0.1 (a free port unless given), disables HTTP, sets a 64 MB page cache and auth with the
given password, waits until the driver connects, and prints NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD lines
for `eval`. `stop` ends the server by the PID it recorded. `--lean` (what the tests use) runs the JVM with
its quick compiler only and the serial GC.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / "lib"
LEAN_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
"""For tests: with the quick C1 compiler only and one GC thread, the Neo4j test module uses about 40% less
CPU (91 -> 54 core-seconds on a 2-core machine, measured) and ends sooner (54 -> 47 s); a long load runs
faster with the JVM's defaults (benchmarks, development)."""


def resolve_jars() -> Path:
    if not (LIB / "neo4j-5.26.0.jar").is_file():
        # Maven's output goes to stderr: stdout carries only the `export` lines that callers eval.
        result = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-Dstyle.color=never",
                "-f",
                str(HERE / "pom.xml"),
                "dependency:copy-dependencies",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise RuntimeError("resolving the Neo4j jars with Maven failed (see above)")
    return LIB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_conf(run: Path, port: int) -> None:
    (run / "conf").mkdir(parents=True, exist_ok=True)
    lines = [
        "server.default_listen_address=127.0.0.1",
        f"server.bolt.listen_address=127.0.0.1:{port}",
        "server.http.enabled=false",
        "server.https.enabled=false",
        "server.memory.pagecache.size=64m",
        "dbms.security.auth_enabled=true",
        f"server.directories.lib={LIB}",
    ]
    for name in ("data", "logs", "run", "import", "plugins"):
        lines.append(f"server.directories.{name}={run / name}")
    (run / "conf" / "neo4j.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")


def wait_ready(
    uri: str, password: str, timeout: float = 300.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until the server answers (a loaded 2-core machine can take minutes to start the JVM); fail at
    once if its process `proc` exits."""
    import neo4j

    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Neo4j exited with status {proc.returncode} before it was ready")
        try:
            with neo4j.GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
                driver.verify_connectivity()
                return
        except Exception as exc:
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"Neo4j at {uri} not ready after {timeout:.0f}s: {last}")


def start(
    run: Path, port: int | None = None, password: str = "medsyn-neo4j", *, lean: bool = False
) -> dict[str, str]:
    """Start a server in `run` (reusing its data); returns the connection settings. `lean`: the JVM
    settings of LEAN_JVM."""
    resolve_jars()
    run = run.resolve()
    port = port or free_port()
    write_conf(run, port)
    env = {**os.environ, "NEO4J_HOME": str(run), "NEO4J_CONF": str(run / "conf")}
    classpath = f"{LIB}/*"
    jvm = LEAN_JVM if lean else []
    if len(password) < 8:
        raise ValueError("Neo4j needs a password of at least 8 characters")
    if not (run / "data" / "dbms").exists():
        result = subprocess.run(
            ["java", *jvm, "-cp", classpath, "org.neo4j.cli.AdminTool"]
            + ["dbms", "set-initial-password", password],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"setting the initial Neo4j password failed: {result.stdout}{result.stderr}")
    log = (run / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            "java",
            "-Xmx512m",
            *jvm,
            "-cp",
            classpath,
            "org.neo4j.server.CommunityEntryPoint",
            f"--home-dir={run}",
            f"--config-dir={run / 'conf'}",
            "--console-mode",
        ],  # fmt: skip
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (run / "server.pid").write_text(str(proc.pid))
    uri = f"bolt://127.0.0.1:{port}"
    try:
        wait_ready(uri, password, proc=proc)
    except Exception as exc:
        stop(run)
        raise RuntimeError(f"{exc} (its log: {run / 'server.log'})") from exc
    return {"NEO4J_URI": uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": password}


def stop(run: Path, timeout: float = 60.0, *, kill: bool = False) -> None:
    """Stop the server started in `run` by its PID (SIGTERM, then SIGKILL; `kill`: SIGKILL at once)."""
    pid_file = run / "server.pid"
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if _reaped(pid):
                break
            os.kill(pid, 0)
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
            _reaped(pid)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)


def _reaped(pid: int) -> bool:
    """Reap `pid` if it is our child and has exited (a zombie still answers kill(pid, 0))."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "jars"])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medsyn-neo4j"))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--password", default="medsyn-neo4j")
    parser.add_argument("--lean", action="store_true", help="the JVM settings for tests (LEAN_JVM)")
    args = parser.parse_args()
    if args.action == "jars":
        print(resolve_jars())
    elif args.action == "start":
        for key, value in start(args.dir, args.port, args.password, lean=args.lean).items():
            print(f"export {key}={value}")
    else:
        stop(args.dir)


if __name__ == "__main__":
    sys.exit(main())
