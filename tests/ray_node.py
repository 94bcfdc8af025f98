"""Start one Ray worker node of a test cluster in this process's own namespace, until SIGTERM.

    python tests/ray_node.py --address 127.0.0.1:P --num-cpus 2 --resources '{"node2": 1}'
    unshare --mount sh -c 'mount -t tmpfs x /private && exec python tests/ray_node.py ...'

`ray.cluster_utils.Cluster.add_node` starts nodes from the test process; this starts the same node
(ray._private.node.Node with the same settings) from a process of its own, so a test can give that node a
different view of the filesystem (a directory the head does not share), as separate machines have.
Every address is 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray from swapping 127.0.0.1 for the
machine's external address).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--address", required=True)
    p.add_argument("--num-cpus", type=int, default=1)
    p.add_argument("--resources", default="{}")
    p.add_argument("--agent-port", type=int, required=True)
    args = p.parse_args()

    import ray
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    params = RayParams(
        node_ip_address="127.0.0.1",
        gcs_address=args.address,
        num_cpus=args.num_cpus,
        num_gpus=0,
        resources=json.loads(args.resources),
        object_store_memory=150 * 1024 * 1024,
        min_worker_port=0,
        max_worker_port=0,
        include_log_monitor=False,
        node_manager_port=0,
        dashboard_agent_listen_port=args.agent_port,
    )
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"node {node.node_id} up", flush=True)
    stop.wait()
    node.kill_all_processes(check_alive=False, allow_graceful=True)
    del ray


if __name__ == "__main__":
    main()
