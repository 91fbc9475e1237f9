"""Pod network, Services and DNS benchmarks in one run (issue: networking, item 6).

    sudo .venv/bin/python bench/net.py [--quick]

Runs, one after the other so they do not compete for the CPUs:
1. bench/net_rules.py       time to render and apply the Service ruleset with 1,000
                            Services / 10,000 endpoints (nft, in a namespace it makes)
2. bench/net_dns.py         queries/s one node's DNS server answers
3. bench/net_throughput.py  pod-to-pod TCP throughput vs two plain namespaces on a bridge
Each prints its own method and medians; this script only runs them (root: namespaces).
Every namespace they use is made by them and removed; nothing touches the root namespace.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = [
    ("Service ruleset", "net_rules.py", ["--runs", "5"], ["--runs", "2"]),
    ("cluster DNS", "net_dns.py", ["--runs", "5"], ["--runs", "2", "--seconds", "1"]),
    ("pod network throughput", "net_throughput.py", ["--rounds", "5"],
     ["--rounds", "2", "--mib", "256"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    args = parser.parse_args()
    failed = []
    for title, script, full, quick in PARTS:
        print(f"\n===== {title} ({script}) =====", flush=True)
        res = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)])
        if res.returncode != 0:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
