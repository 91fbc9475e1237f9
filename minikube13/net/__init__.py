"""Pod networking: a bridge per node, a veth per pod, host-local IPAM, routes to the other
nodes' pod CIDRs (host-gw or VXLAN), masquerade and hostPort rules (nftables).

Pure decisions (cidrs, ipam's allocator, routes' plan, the nftables texts) sit beside thin
netlink/nft shells; `node_network.NodeNetwork` is the facade the daemon uses.
"""


class NetworkError(Exception):
    """The node's pod network could not be set up or changed."""
