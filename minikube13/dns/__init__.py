"""Cluster DNS: a pure resolver over Services, Endpoints and Pods, and a thin UDP/TCP shell.

Pure: names, snapshot (the zone), resolver (answers), message (EDNS, UDP fitting), fastpath
(ready-made local answers), cache (forwarded answers), upstream, resolvconf (pods' files).
Shells: server (sockets), feed (registry watches), service (`start_dns`, the daemon's entry).
"""

from __future__ import annotations
