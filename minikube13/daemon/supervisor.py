"""Start the daemon's parts in order, tell systemd when it serves, and stop them in reverse.

Order: certificates -> store -> registry -> bootstrap namespaces -> controllers -> API on
TLS and on the Unix socket -> readiness probe -> node agent (registers the Node) -> READY=1.
An agent (`--server`) instead: join (a child, when it has no credentials) -> its own local
certificates -> its copy (a store of its own) and the link to the servers (cluster.agent) ->
the copy made once, or an earlier one -> API over the copy -> node agent -> READY=1; it runs
no scheduler or controllers.
Shutdown (SIGTERM/SIGINT) stops the node agent (its pods keep running: they outlive the
daemon), closes the listeners so no new request starts, ends streams, stops the
controllers, and closes the store last so every acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from minikube13.auth import authn, tls
from minikube13.daemon.config import Config
from minikube13.daemon.leadership import CONTROLLERS_GRACE_S, ControllerSettings, Leadership, finish
from minikube13.daemon.notify import Notifier

if TYPE_CHECKING:
    from minikube13.api.node_proxy import NodeProxy
    from minikube13.cluster.agent import AgentLink
    from minikube13.cluster.credentials import AgentFiles
    from minikube13.cluster.liveness import GossipLivenessView
    from minikube13.cluster.server import JoinService
    from minikube13.daemon.membership import Membership
    from minikube13.daemon.node_services import NodeServices
    from minikube13.model.kinds import ResourceInfo
    from minikube13.node.agent import NodeAgent
    from minikube13.registry.objects import ObjectRegistry
    from minikube13.store.interface import Store

log = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public")
READY_TIMEOUT_S = 30.0
HANDLER_GRACE_S = 3.0  # open watches and slow requests get this long after listeners close
CERT_CHECK_INTERVAL_S = 12 * 3600.0  # leaves are renewed 30 days before expiry: ample
AGENT_COPY_DB = "agent-copy.db"           # an agent's copy of what its node needs
AGENT_COPY_MARKER = "agent-copy.synced"   # ... made once in full: it may start from it


def _self_command() -> list[str]:
    """How to run this program again: the frozen single binary, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "minikube13"]


class StartupError(Exception):
    """The daemon could not start; the message says what to fix."""


class Daemon:
    def __init__(self, config: Config, notifier: Notifier | None = None):
        self.config = config
        self.notifier = notifier or Notifier.from_environment()
        self.store: Store | None = None
        self.registry: ObjectRegistry | None = None
        self._runner: web.AppRunner | None = None
        self._node_proxy: NodeProxy | None = None
        self.leadership: Leadership | None = None
        self._cert_refresh: asyncio.Task[None] | None = None
        self._agent: NodeAgent | None = None
        self._link: AgentLink | None = None
        self._membership: Membership | None = None
        self._node_services: NodeServices | None = None
        self._socket_bound = False
        self._lock_fd: int | None = None

    # -- start ----------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        self._lock_fd = _lock_data_dir(cfg.data_dir)
        await asyncio.to_thread(_remove_stale_socket, cfg.socket)
        if cfg.server:
            await self._start_agent()
        else:
            await self._start_server()
        status = f"serving https://{cfg.bind_address}:{cfg.secure_port} and {cfg.socket}"
        self.notifier.ready(status)
        log.info("daemon ready node=%s address=%s port=%d socket=%s kubeconfig=%s role=%s",
                 cfg.node_name, cfg.bind_address, cfg.secure_port, cfg.socket,
                 cfg.kubeconfig_path, "agent" if cfg.server else "server")

    async def _start_server(self) -> None:
        cfg = self.config
        self.notifier.status("preparing certificates")
        paths = await self._prepare_pki(cfg.pki_dir)
        # the server's own node identity (the gossip `id` tag), as joined nodes have one
        await self._run_child("certs", ["certs", "ensure-node", "--pki-dir", str(cfg.pki_dir),
                                        "--node-name", cfg.node_name])
        self.notifier.status("opening the store")
        self.store = await self._open_store(cfg.db_path)
        from minikube13.registry.allocator import ServiceAllocator
        from minikube13.registry.objects import ObjectRegistry
        registry = self.registry = ObjectRegistry(self.store)
        registry.write_guards["services"] = ServiceAllocator.from_config(
            cfg.service_cidr, cfg.node_port_range)
        for name in BOOTSTRAP_NAMESPACES:
            await registry.ensure_namespace(name)
        await self._ensure_kubernetes_service(registry)
        from minikube13.cluster import keys
        from minikube13.cluster.liveness import GossipLivenessView
        self.notifier.status("joining the gossip pool")
        membership = await self._start_membership(
            "server", await asyncio.to_thread(keys.ensure_gossip_key, cfg.config_dir), [],
            liveness=GossipLivenessView())
        self.leadership = Leadership(registry, ControllerSettings(
            cfg.node_grace, cfg.pod_eviction_timeout, cfg.cluster_cidr, cfg.node_cidr_mask,
            liveness=membership.liveness, node_changes=membership.node_changes))
        self.leadership.lead()  # a lone server leads; the cluster's election will decide
        self.notifier.status("starting the API")
        ssl_context = tls.server_ssl_context(paths)
        await self._serve(registry, ssl_context, join=self._join_service())
        await self._wait_ready()
        log.info("API answers /readyz socket=%s", cfg.socket)  # tests check it precedes READY
        if cfg.run_pods:
            self.notifier.status("registering the node")
            await self._start_node_agent(registry)
        self._cert_refresh = asyncio.create_task(
            self._keep_certificates_fresh(ssl_context, cfg.pki_dir), name="certificate-refresh")

    async def _start_agent(self) -> None:
        """An agent: no scheduler or controllers; the node agent and a local API over a
        copy of what this node needs, kept by a mirror of the servers (cluster.agent)."""
        from minikube13.cluster.agent import AgentLink
        from minikube13.cluster.credentials import (
            AgentFiles,
            client_ssl_context,
            server_urls,
        )
        cfg = self.config
        files = AgentFiles(cfg.config_dir)
        if not files.complete():
            self.notifier.status("joining the cluster")
            await self._join(files)
        self.notifier.status("preparing certificates")
        paths = await self._prepare_pki(files.local_pki)
        self.notifier.status("opening the local copy")
        self.store = await self._open_store(cfg.data_dir / AGENT_COPY_DB)
        link = self._link = AgentLink(
            self.store, server_urls(cfg.server, files), client_ssl_context(files),
            cfg.data_dir / AGENT_COPY_MARKER)
        await link.start()
        from minikube13.cluster import keys
        from minikube13.cluster.credentials import read_servers
        gossip_peers = [_host_port(entry["gossip"], cfg.gossip_port)
                        for entry in read_servers(files.servers_file) if entry.get("gossip")]
        self.notifier.status("joining the gossip pool")
        await self._start_membership(
            "agent", await asyncio.to_thread(keys.read_gossip_key, files.gossip_key),
            gossip_peers, on_servers=link.upstream.set_servers)
        self.notifier.status("waiting for the servers" if not link.has_copy
                             else "starting from the local copy")
        await link.wait_usable()
        self.registry = link.registry
        ssl_context = tls.server_ssl_context(paths)
        ssl_context.load_verify_locations(cafile=str(files.ca))  # cluster clients too
        self.notifier.status("starting the API")
        await self._serve(link.served, ssl_context, link.api(classify_request).install)
        await self._wait_ready()
        log.info("API answers /readyz socket=%s", cfg.socket)
        if cfg.run_pods:
            self.notifier.status("registering the node")
            await self._start_node_agent(link.registry)
            assert self._agent is not None
            link.mirror.on_synced(self._agent.node.register)  # back online: report again
        self._cert_refresh = asyncio.create_task(
            self._keep_certificates_fresh(ssl_context, files.local_pki),
            name="certificate-refresh")

    async def _join(self, files: AgentFiles) -> None:
        """Run `minikube13 join` in a child (it needs `cryptography`, the daemon must not)."""
        cfg = self.config
        if not cfg.token:
            raise StartupError(f"this agent has no credentials in {cfg.config_dir} (pki/ca.crt, "
                               "pki/node.crt, pki/node.key): give a join token with --token "
                               "(or MINIKUBE13_TOKEN), or run `minikube13 join` first")
        cmd = [*_self_command(), "join", cfg.server, "--token", cfg.token,
               "--node-name", cfg.node_name, "--config-dir", str(cfg.config_dir)]
        child = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await child.communicate()
        lines = err.decode(errors="replace").strip().splitlines()
        for line in lines:
            log.info("join: %s", line)
        if child.returncode != 0 or not files.complete():
            raise StartupError("joining the cluster failed: " +
                               (lines[-1] if lines else f"join exited {child.returncode}"))

    async def _prepare_pki(self, pki_dir: Path) -> tls.PkiPaths:
        """Run `minikube13 certs ensure` in a child: the daemon never loads cryptography."""
        cfg = self.config
        await self._run_child("certs", [
            "certs", "ensure", "--pki-dir", str(pki_dir), "--kubeconfig", str(cfg.kubeconfig_path),
            "--server", f"https://{cfg.local_server_host}:{cfg.secure_port}",
            "--node-name", cfg.node_name, "--bind-address", cfg.bind_address,
            "--service-ip", _kubernetes_service_ip(cfg), "--cluster-domain", cfg.cluster_domain])
        return tls.PkiPaths(pki_dir)

    async def _run_child(self, what: str, args: list[str]) -> None:
        """Run `minikube13 ARGS`; its stderr lines are logged, a failure raises PkiError."""
        child = await asyncio.create_subprocess_exec(
            *_self_command(), *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await child.communicate()
        lines = err.decode(errors="replace").strip().splitlines()
        for line in lines:
            log.info("%s: %s", what, line)
        if child.returncode != 0:
            raise tls.PkiError(lines[-1] if lines else f"{what} exited {child.returncode}")

    async def _start_membership(self, role: str, key: bytes | None,
                                join: list[tuple[str, int]], *,
                                liveness: GossipLivenessView | None = None,
                                on_servers: Callable[[list[str]], None] | None = None,
                                ) -> Membership:
        from minikube13.cluster import keys
        from minikube13.daemon.membership import Membership
        from minikube13.node.machine import host_ip
        cfg = self.config
        address = await asyncio.to_thread(host_ip, cfg.bind_address, cfg.advertise_address)
        membership = self._membership = Membership(
            cfg, role=role, address=address, key=key,
            node_id=keys.node_fingerprint(cfg.config_dir), join=join, liveness=liveness,
            on_servers=on_servers)
        try:
            await membership.start()
        except OSError as e:
            raise StartupError(f"cannot start gossip on {address}:{cfg.gossip_port}: "
                               f"{e.strerror or e}") from e
        return membership

    async def _keep_certificates_fresh(self, ssl_context: ssl.SSLContext,
                                       pki_dir: Path) -> None:
        """Renew certificates near expiry while running; new connections get the new one."""
        while True:
            await asyncio.sleep(CERT_CHECK_INTERVAL_S)
            try:
                paths = await self._prepare_pki(pki_dir)
                ssl_context.load_cert_chain(str(paths.server_cert), str(paths.server_key))
            except (OSError, ValueError, tls.PkiError) as e:
                log.error("certificate refresh failed error=%s", e)

    async def _open_store(self, path: Path) -> Store:
        from minikube13.store import open_store
        store = open_store(str(path))
        await store.start()
        return store

    async def _start_node_agent(self, registry: ObjectRegistry) -> None:
        """The node agent over the real pod runtime; READY=1 waits for the Node."""
        from minikube13.node.agent import NodeAgent
        from minikube13.node.machine import read_machine_info
        from minikube13.runtime.pods import PodRuntime
        cfg = self.config
        from minikube13.net.node_network import NodeNetwork
        network = NodeNetwork(cfg.data_dir, cfg.cluster_cidr) if cfg.pod_network else None
        runtime = PodRuntime(cfg.data_dir, self_command=_self_command(),
                             allowed_registries=cfg.registry_allow,
                             backoff_initial_s=cfg.pod_backoff_initial,
                             backoff_max_s=cfg.pod_backoff_max, pids_limit=cfg.pids_limit,
                             network=network)
        machine = await asyncio.to_thread(read_machine_info, cfg.bind_address,
                                          cfg.advertise_address, cfg.secure_port)
        self._agent = NodeAgent(registry, runtime, cfg.node_name, machine,
                                backoff_initial_s=cfg.pod_backoff_initial,
                                backoff_max_s=cfg.pod_backoff_max, network=network,
                                cluster_domain=cfg.cluster_domain,
                                resolv_conf=cfg.resolv_conf)
        await self._agent.start()
        if network is not None:  # Service rules and DNS once the node has its podCIDR
            from minikube13.daemon.node_services import NodeServices
            self._node_services = NodeServices(registry, cfg, self._agent, machine.internal_ip,
                                               self._membership)
            self._node_services.start()

    async def _ensure_kubernetes_service(self, registry: ObjectRegistry) -> None:
        """default/kubernetes -> this server's API (a clash is reported, not fatal)."""
        from minikube13.daemon.kubernetes_service import ensure_kubernetes_service
        from minikube13.node.machine import host_ip
        from minikube13.registry.errors import StatusError
        cfg = self.config
        address = await asyncio.to_thread(host_ip, cfg.bind_address, cfg.advertise_address)
        try:
            await ensure_kubernetes_service(registry, cfg.service_cidr, address, cfg.secure_port)
        except StatusError as err:
            log.warning("cannot keep the kubernetes service error=%s", err)

    def _join_service(self) -> JoinService:
        from minikube13.cluster.server import JoinService, JoinSettings
        cfg = self.config
        return JoinService(JoinSettings(cfg.config_dir, cfg.secure_port, cfg.gossip_port,
                                        tuple(_self_command()), cfg.advertise_address))

    async def _serve(self, registry: ObjectRegistry, ssl_context: ssl.SSLContext,
                     install: Callable[[web.Application], None] | None = None,
                     join: JoinService | None = None) -> None:
        from minikube13.api.server import build_app
        from minikube13.runtime.streams import PodStreams
        cfg = self.config
        store = self.store
        assert store is not None
        # logs/exec/attach read this node's pod dirs, with or without the agent running
        authenticate: Any = authn.authenticate
        if join is not None:  # a server: bootstrap tokens may join nodes
            from minikube13.cluster.server import BootstrapTokenAuthenticator
            authenticate = authn.with_bearer_tokens(BootstrapTokenAuthenticator(registry))
        membership = self._membership
        if join is not None:  # a server passes streams of other nodes' pods on to them
            self._node_proxy = _node_proxy(registry, cfg)
        app = build_app(registry, authenticate=authenticate, store_stats=store.stats,
                        pod_streams=PodStreams(cfg.data_dir), node_proxy=self._node_proxy,
                        join=join,
                        members=None if membership is None else membership.members_json)
        if install is not None:  # an agent's routing of requests to its copy or the servers
            install(app)
        access_log = logging.getLogger("aiohttp.access") if cfg.log_level == "DEBUG" else None
        self._runner = web.AppRunner(app, handle_signals=False, access_log=access_log,
                                     shutdown_timeout=HANDLER_GRACE_S)
        await self._runner.setup()
        tls = web.TCPSite(self._runner, cfg.bind_address, cfg.secure_port,
                          ssl_context=ssl_context, shutdown_timeout=HANDLER_GRACE_S,
                          backlog=1024)
        try:
            await tls.start()
        except OSError as e:
            raise StartupError(f"cannot listen on {cfg.bind_address}:{cfg.secure_port}: "
                               f"{e.strerror}") from e
        await self._serve_unix_socket(cfg.socket)

    async def _serve_unix_socket(self, path: Path) -> None:
        assert self._runner is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        site = web.UnixSite(self._runner, str(path), shutdown_timeout=HANDLER_GRACE_S)
        await site.start()
        self._socket_bound = True
        # Owner only until RBAC exists: any other local user would be a cluster user too.
        os.chmod(path, 0o600)

    async def _wait_ready(self) -> None:
        """Probe our own /readyz over the socket, as a client would, before READY=1."""
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        connector = aiohttp.UnixConnector(path=str(self.config.socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get("http://localhost/readyz") as resp:
                        if resp.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise StartupError(f"/readyz not 200 after {READY_TIMEOUT_S:.0f}s")
                await asyncio.sleep(0.1)

    # -- stop -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe after a failed start."""
        self.notifier.stopping()
        log.info("daemon stopping")
        if self._cert_refresh is not None:
            self._cert_refresh.cancel()
            self._cert_refresh = None
        if self._node_services is not None:
            await finish(asyncio.ensure_future(self._node_services.close()), "node services",
                         CONTROLLERS_GRACE_S)
            self._node_services = None
        if self._agent is not None:  # its pods keep running
            await finish(asyncio.ensure_future(self._agent.close()), "node agent",
                          CONTROLLERS_GRACE_S)
            self._agent = None
        if self._runner is not None:
            await self._runner.cleanup()  # listeners first, then handlers get their grace
            self._runner = None
        if self._node_proxy is not None:
            await self._node_proxy.close()
        if self.leadership is not None:
            await self.leadership.step_down()
            self.leadership = None
        if self._membership is not None:  # after the API: members answer until the end
            await finish(asyncio.ensure_future(self._membership.close()), "gossip",
                         CONTROLLERS_GRACE_S)
            self._membership = None
        if self._link is not None:
            await finish(asyncio.ensure_future(self._link.close()), "agent link",
                          CONTROLLERS_GRACE_S)
            self._link = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self._socket_bound:
            self.config.socket.unlink(missing_ok=True)
            self._socket_bound = False
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        log.info("daemon stopped")


async def run_daemon(config: Config) -> None:
    """Run until SIGTERM or SIGINT; raise StartupError when the daemon cannot start."""
    daemon = Daemon(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    watchdog = asyncio.create_task(daemon.notifier.watchdog(), name="watchdog")
    start = asyncio.create_task(daemon.start(), name="start")
    stopped = asyncio.create_task(stop.wait(), name="wait-for-signal")
    try:
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if start.done():
            start.result()  # a failed start raises here
            await stopped
        else:  # a signal during start-up: abandon it, then clean up what was started
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
    finally:
        for task in (start, stopped, watchdog):
            task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await daemon.stop()


def _kubernetes_service_ip(cfg: Config) -> str:
    from minikube13.registry.allocation import ServiceRanges
    return ServiceRanges.parse(cfg.service_cidr).kubernetes_ip


def _node_proxy(registry: ObjectRegistry, cfg: Config) -> NodeProxy:
    """The server calls other nodes' APIs with its admin client certificate."""
    from minikube13.api.node_proxy import NodeProxy, client_ssl_context
    paths = tls.PkiPaths(cfg.pki_dir)
    return NodeProxy(registry, cfg.node_name,
                     client_ssl_context(str(paths.admin_cert), str(paths.admin_key)))


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("signal received signal=%s", sig.name)
    stop.set()


def classify_request(request: web.Request) -> tuple[ResourceInfo, str, str] | None:
    """The resource, verb and subresource a request names (None: not a resource request),
    for an agent's routing of requests (cluster.forward)."""
    from minikube13.api import params, routes
    route = routes.parse(request.path)
    if route is None or route.info is None:
        return None
    verb = routes.verb_for(route, request.method, params.is_watch(request.query))
    if verb is None:
        return None
    return route.info, verb, route.subresource


def _lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on the data directory for the daemon's lifetime.

    Two daemons writing one SQLite store would each believe they own its revisions; the
    kernel drops the lock when the process dies, even by SIGKILL.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    path = data_dir / "minikube13d.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartupError(f"another minikube13d (pid {holder}) is using {data_dir}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket left by a daemon that died; refuse if one still answers on it."""
    if not path.exists() and not path.is_symlink():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
    raise StartupError(f"another daemon is serving on {path}; stop it first")


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    """`addr:port` or `[v6]:port` (or a bare address) as a (host, port) pair."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return text, default_port
    return host, int(port)
