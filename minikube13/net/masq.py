"""Masquerade for pod traffic leaving the cluster CIDR (pure: the nftables text).

Its own table, `ip minikube13-masq`, replaced in one `nft -f` transaction (add, delete,
define: the add makes the delete safe when the table is new). Pod-to-pod traffic, on this
node or another, keeps its source address; anything else leaves with the node's.
"""

from __future__ import annotations

TABLE = "minikube13-masq"


def replace_table(family: str, name: str, body: str) -> str:
    """One nft transaction that swaps a whole table for `body` (or drops it if empty)."""
    text = f"table {family} {name} {{}}\ndelete table {family} {name}\n"
    if body:
        text += f"table {family} {name} {{\n{body}}}\n"
    return text


def render(cluster_cidr: str) -> str:
    body = ("\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority 110; policy accept;\n"
            f"\t\tip saddr {cluster_cidr} ip daddr != {cluster_cidr} masquerade\n"
            "\t}\n")
    return replace_table("ip", TABLE, body)


def remove() -> str:
    return replace_table("ip", TABLE, "")
