"""Run NodeNetwork operations as a daemon would, inside the namespace this process was
started in (the tests start it with `nsenter --net=<node netns>`).

    python net_driver.py <data dir> <cluster cidr> '<json list of [op, args...]>'

ops: start(node, pod_cidr, address), setup(uid, netns_path, pod) -> [ip, gw],
teardown(uid), peers(nodes) -> plan, collect(live uids) -> removed, remove().
Prints one JSON list with each op's result.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from minikube13.net.node_network import NodeNetwork


def main() -> None:
    data_dir, cluster_cidr, ops = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    net = NodeNetwork(data_dir, cluster_cidr)
    out = []
    for op, *args in ops:
        if op == "start":
            out.append(net.start(*args))
        elif op == "setup":
            out.append(list(net.setup_pod(*args)))
        elif op == "teardown":
            out.append(net.teardown_pod(*args))
        elif op == "peers":
            out.append(asdict(net.update_peers(args[0])))
        elif op == "collect":
            out.append(net.collect(set(args[0])))
        elif op == "remove":
            out.append(net.remove())
        else:
            raise SystemExit(f"unknown op {op}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
