"""NodeNetwork: the node's pod network as the daemon uses it.

    network = NodeNetwork(data_dir, cluster_cidr)
    network.start(node_name, pod_cidr, node_address)    # bridge, forwarding, masquerade
    ip = network.allocate(uid)                          # before stage0 writes the pod's files
    ip, gateway = network.setup_pod(uid, netns_path, pod)   # after the netns exists
    network.teardown_pod(uid)                           # after the pod is torn down
    network.update_peers(nodes)                         # whenever Nodes change
    network.collect(live_uids)                          # what pods torn down without us left

Blocking calls (netlink, nft, files): the daemon runs them in a worker thread. State that
must outlive the daemon lives in the kernel (bridge, veths, routes, tables) and under
<data_dir>/net (address files, each pod's hostPort mappings), so a restarted daemon finds
its pods' addresses as they were.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from minikube13.net import (
    NetworkError,
    bridge,
    hostport,
    ipam_store,
    masq,
    nft,
    pods,
    routes,
    routing,
)
from minikube13.net.cidrs import gateway, network
from minikube13.net.ipam_store import HostLocalIpam
from minikube13.net.netlink import iproute, lookup
from minikube13.net.routes import RoutePlan

log = logging.getLogger(__name__)
Object = dict[str, Any]
NET_SUBDIR = "net"


class NodeNetwork:
    def __init__(self, data_dir: Path, cluster_cidr: str):
        self.state_dir = Path(data_dir) / NET_SUBDIR
        self.cluster_cidr = str(network(cluster_cidr))
        self.node_name = ""
        self.node_address = ""
        self._pod_cidr = ""
        self._ipam: HostLocalIpam | None = None
        self._lock = threading.RLock()
        self._started = threading.Event()

    # -- node ------------------------------------------------------------------------------

    def start(self, node_name: str, pod_cidr: str, node_address: str) -> None:
        """Bring the node's side up (idempotent; keeps the pods' links and addresses)."""
        net = network(pod_cidr)
        if not net.subnet_of(network(self.cluster_cidr)):
            log.warning("podCIDR outside the cluster CIDR cidr=%s cluster=%s", net,
                        self.cluster_cidr)
        with self._lock:
            self.node_name, self.node_address, self._pod_cidr = node_name, node_address, str(net)
            self._ipam = HostLocalIpam(self.state_dir / "ipam", str(net))
            bridge.enable_forwarding()
            with iproute() as ipr:
                bridge.ensure_bridge(ipr, str(net))
            nft.apply(masq.render(self.cluster_cidr))
            self._apply_host_ports()
            self._started.set()
        log.info("pod network up node=%s cidr=%s gateway=%s", node_name, net, self.gateway)

    @property
    def started(self) -> bool:
        return self._started.is_set()

    @property
    def pod_cidr(self) -> str:
        return self._pod_cidr

    @property
    def gateway(self) -> str:
        """The bridge's address: pods' default gateway and the node's DNS address."""
        return gateway(self._pod_cidr) if self._pod_cidr else ""

    def update_peers(self, nodes: Iterable[Object]) -> RoutePlan:
        """Routes to every other node's podCIDR, and no others of ours."""
        self._require_started()
        with self._lock, iproute() as ipr:
            plan = routes.plan_routes(routes.peers_of(nodes, self.node_name), self._pod_cidr,
                                      routing.local_networks(ipr))
            routing.apply_plan(ipr, plan, self._pod_cidr, self.node_address)
        return plan

    def close(self) -> None:
        """Nothing to stop: the pods' network lives on without the daemon."""

    def remove(self) -> None:
        """Undo everything on this node (routes, overlay, tables, bridge, state)."""
        with self._lock:
            with iproute() as ipr:
                routing.remove_all(ipr)
                for name in pods.host_veths(ipr):
                    ipr.link("del", ifname=name)
                bridge.remove_bridge(ipr)
            for table, text in ((masq.TABLE, masq.remove()),
                                (hostport.TABLE, hostport.render([], "0.0.0.0/32"))):
                if nft.table_exists("ip", table):
                    nft.apply(text)
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self._started.clear()

    # -- pods ------------------------------------------------------------------------------

    def allocate(self, uid: str) -> str:
        """The pod's address (the one it holds already, if any)."""
        return self._ipam_or_fail().allocate(uid)

    def setup_pod(self, uid: str, netns_path: str, pod: Object) -> tuple[str, str]:
        """Link the pod's netns to the bridge; (pod address, gateway)."""
        ipam = self._ipam_or_fail()
        address = ipam.allocate(uid)
        link = pods.PodLink(uid, str(netns_path), address, network(self._pod_cidr).prefixlen,
                            self.gateway)
        with self._lock, iproute() as ipr:
            bridge_index = lookup(ipr, bridge.BRIDGE)
            if bridge_index is None:   # someone removed it: make it again
                bridge_index = bridge.ensure_bridge(ipr, self._pod_cidr)
            pods.attach(ipr, bridge_index, link)
        mappings = hostport.host_ports_of(pod, address)
        if mappings or self._record_path(uid).exists():
            self._write_record(uid, address, mappings)
            self._apply_host_ports()
        log.info("pod network set uid=%s ip=%s", uid, address)
        return address, self.gateway

    def teardown_pod(self, uid: str) -> None:
        """Remove the pod's veth, address and hostPort rules (idempotent)."""
        with self._lock:
            with iproute() as ipr:
                pods.detach(ipr, uid)
            if self._ipam is not None:
                self._ipam.release(uid)
            else:
                ipam_store.release_in(self.state_dir / "ipam", uid)
            if self._record_path(uid).exists():
                self._record_path(uid).unlink(missing_ok=True)
                if self.started:
                    self._apply_host_ports()
        log.debug("pod network removed uid=%s", uid)

    def collect(self, live_uids: set[str]) -> list[str]:
        """Free what pods not in `live_uids` still hold; what was removed."""
        removed: list[str] = []
        with self._lock:
            if self._ipam is not None:
                removed += [f"ip:{a}" for a in self._ipam.release_unknown(live_uids)]
            live_veths = {pods.host_veth_name(u) for u in live_uids}
            with iproute() as ipr:
                for name in sorted(set(pods.host_veths(ipr)) - live_veths):
                    ipr.link("del", ifname=name)
                    removed.append(f"veth:{name}")
            stale = [p for p in self._records_dir().glob("*.json") if p.stem not in live_uids]
            for path in stale:
                path.unlink(missing_ok=True)
                removed.append(f"hostports:{path.stem}")
            if stale and self.started:
                self._apply_host_ports()
        return removed

    # -- hostPort records ------------------------------------------------------------------

    def _records_dir(self) -> Path:
        return self.state_dir / "pods"

    def _record_path(self, uid: str) -> Path:
        return self._records_dir() / f"{uid}.json"

    def _write_record(self, uid: str, address: str, mappings: list[hostport.HostPort]) -> None:
        self._records_dir().mkdir(parents=True, exist_ok=True)
        path = self._record_path(uid)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ip": address, "hostPorts": [asdict(m) for m in mappings]}))
        tmp.replace(path)

    def _all_host_ports(self) -> list[hostport.HostPort]:
        out: list[hostport.HostPort] = []
        for path in sorted(self._records_dir().glob("*.json")):
            try:
                record = json.loads(path.read_text())
                out.extend(hostport.HostPort(**m) for m in record.get("hostPorts") or [])
            except (OSError, ValueError, TypeError) as e:
                log.warning("bad hostPort record path=%s error=%s", path, e)
        return out

    def _apply_host_ports(self) -> None:
        nft.apply(hostport.render(self._all_host_ports(), self._pod_cidr))

    # -- helpers ---------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self.started:
            raise NetworkError("pod network not started (no podCIDR yet)")

    def _ipam_or_fail(self) -> HostLocalIpam:
        self._require_started()
        assert self._ipam is not None
        return self._ipam
