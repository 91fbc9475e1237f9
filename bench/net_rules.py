"""Service ruleset benchmark: render and apply 1,000 services / 10,000 endpoints.

Method: builds N Services (ClusterIP, one TCP port; every 10th also a NodePort, every 20th
with ClientIP affinity) and their Endpoints (E ready addresses each), plus 200 pods and 20
NetworkPolicies; renders the ruleset with the pure `render_ruleset` (timed in process) and
applies it with `nft -f -` inside a network namespace this bench creates
(`m13t-svc-bench-<token>`, deleted at the end; nothing touches the root namespace). It
times, over --runs rounds, the first apply (table created), a swap after one endpoint
changed (the steady state: the whole table replaced in one transaction) and the apply
through `apply_ruleset` (which also carries ClientIP affinity entries over). Prints the
median of each. Root is needed (ip netns).

    sudo .venv/bin/python bench/net_rules.py [--services 1000] [--endpoints 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import time
from typing import Any

from minikube13.net.services.apply import apply_ruleset
from minikube13.net.services.inputs import NodeInfo
from minikube13.net.services.rules import render_ruleset

Object = dict[str, Any]


def objects(services: int, per_service: int) -> tuple[list[Object], ...]:
    svcs, eps = [], []
    for i in range(services):
        name = f"svc-{i}"
        ip = f"10.43.{i // 250}.{i % 250 + 2}"
        kind = "NodePort" if i % 10 == 0 else "ClusterIP"
        port: Object = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
        if kind == "NodePort":
            port["nodePort"] = 30000 + i
        svcs.append({"metadata": {"name": name, "namespace": "bench"}, "spec": {
            "type": kind, "clusterIP": ip, "selector": {"app": name}, "ports": [port],
            "sessionAffinity": "ClientIP" if i % 20 == 0 else "None"}})
        base = i * per_service
        eps.append({"metadata": {"name": name, "namespace": "bench"}, "subsets": [{
            "addresses": [{"ip": f"10.42.{(base + j) // 250}.{(base + j) % 250 + 2}"}
                          for j in range(per_service)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})
    pods = [{"metadata": {"name": f"p{i}", "namespace": "bench", "labels": {"app": f"svc-{i}"}},
             "spec": {"nodeName": "bench"}, "status": {"phase": "Running",
                                                       "podIP": f"10.42.0.{i + 2}"}}
            for i in range(200)]
    policies = [{"metadata": {"name": f"pol-{i}", "namespace": "bench"}, "spec": {
        "podSelector": {"matchLabels": {"app": f"svc-{i}"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": f"svc-{i + 1}"}}}],
                     "ports": [{"port": 8080, "protocol": "TCP"}]}]}} for i in range(20)]
    namespaces = [{"metadata": {"name": "bench"}}]
    return svcs, eps, pods, policies, namespaces


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def nft(ns: str, text: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=text, text=True,
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    svcs, eps, pods, policies, namespaces = objects(args.services, args.endpoints)
    node = NodeInfo("bench", ("192.0.2.10",))
    renders, firsts, swaps, via_apply = [], [], [], []
    ns = f"m13t-svc-bench-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for run in range(args.runs):
            took, text = timed(render_ruleset, svcs, eps, pods, policies, namespaces, node)
            renders.append(took)
            subprocess.run(["ip", "netns", "exec", ns, "nft", "flush", "ruleset"], check=True)
            firsts.append(timed(nft, ns, text)[0])
            eps[run]["subsets"][0]["addresses"].pop()  # one endpoint gone: a real change
            changed = render_ruleset(svcs, eps, pods, policies, namespaces, node)
            swaps.append(timed(nft, ns, changed)[0])
            command = ("ip", "netns", "exec", ns, "nft")
            start = time.perf_counter()
            asyncio.run(apply_ruleset(text, nft=command))
            via_apply.append(time.perf_counter() - start)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    total = sum(len(e["subsets"][0]["addresses"]) for e in eps)
    print(f"services={args.services} endpoints={total} pods=200 policies=20 "
          f"script_bytes={len(text)} lines={text.count(chr(10))} runs={args.runs}")
    print(f"render (pure, in process)       median {ms(renders):8.1f} ms")
    print(f"apply, table created (nft -f)   median {ms(firsts):8.1f} ms")
    print(f"swap after 1 endpoint change    median {ms(swaps):8.1f} ms")
    print(f"apply_ruleset (+affinity carry) median {ms(via_apply):8.1f} ms")
    print(f"render + swap                   median {ms(renders) + ms(swaps):8.1f} ms")


if __name__ == "__main__":
    main()
