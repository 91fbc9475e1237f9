"""Services and NetworkPolicy on one node: one nftables table `inet minikube13` (plus
`bridge minikube13` where br_netfilter is off), rendered by a pure function from the
Services, Endpoints, Pods, NetworkPolicies and Namespaces, and swapped in one transaction.

* inputs.py   (pure) objects -> service ports with their ready backends; NodeInfo
* policy.py   (pure) NetworkPolicy (1.3 namespace isolation and v1) -> per-pod allow lists
* rules.py    (pure) render_ruleset(...) -> the `nft -f` script
* apply.py    runs `nft -f -`, carrying ClientIP affinity entries across a swap
* proxy.py    watches the registry and re-applies on change: start_service_proxy(...)
"""

from __future__ import annotations


class ServiceProxyError(Exception):
    """The service ruleset could not be applied."""
