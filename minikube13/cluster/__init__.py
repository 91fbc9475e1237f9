"""Joining nodes into a cluster, and an agent's life with the servers: its upstream client,
its local copy of what its pods need, and its API's reads and forwarded writes."""


class ClusterError(Exception):
    """Joining or running as a cluster member failed; the message says what to do."""
