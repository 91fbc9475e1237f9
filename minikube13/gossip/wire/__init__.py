"""HashiCorp memberlist's wire format: messages, packets, streams, encryption, Serf tags.

Pure byte transformations (no sockets): the shell (`gossip/shell.py`) does the I/O.
"""

from __future__ import annotations


class WireError(Exception):
    """Bytes that are not a valid memberlist message (or cannot be decrypted)."""
