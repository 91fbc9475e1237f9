"""The node agent: registers this machine as a Node, runs the pods bound to it through the
pod runtime (stage0 -> stage1 -> runc) and reports their status (design §3.6).

Pure cores: `status` (a pod's status from what the runtime recorded) and `nodestatus` (the
Node object from the machine's numbers); the shell is `agent`.
"""


class NodeAgentError(Exception):
    """The root of the node agent's errors."""
