"""Start the daemon's parts in order, tell systemd when it serves, and stop them in reverse.

Order: certificates -> store -> registry -> bootstrap namespaces -> controllers -> API on
TLS and on the Unix socket -> readiness probe -> node agent (registers the Node) -> READY=1.
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
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from minikube13.auth import authn, tls
from minikube13.daemon.config import Config
from minikube13.daemon.notify import Notifier

if TYPE_CHECKING:
    from minikube13.node.agent import NodeAgent
    from minikube13.registry.objects import ObjectRegistry
    from minikube13.store.interface import Store

log = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public")
READY_TIMEOUT_S = 30.0
HANDLER_GRACE_S = 3.0  # open watches and slow requests get this long after listeners close
CONTROLLERS_GRACE_S = 5.0
CERT_CHECK_INTERVAL_S = 12 * 3600.0  # leaves are renewed 30 days before expiry: ample


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
        self.leadership: Leadership | None = None
        self._cert_refresh: asyncio.Task[None] | None = None
        self._agent: NodeAgent | None = None
        self._socket_bound = False
        self._lock_fd: int | None = None

    # -- start ----------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        self._lock_fd = _lock_data_dir(cfg.data_dir)
        await asyncio.to_thread(_remove_stale_socket, cfg.socket)
        self.notifier.status("preparing certificates")
        paths = await self._prepare_pki()
        self.notifier.status("opening the store")
        self.store = await self._open_store(cfg.db_path)
        from minikube13.registry.objects import ObjectRegistry
        registry = self.registry = ObjectRegistry(self.store)
        for name in BOOTSTRAP_NAMESPACES:
            await registry.ensure_namespace(name)
        self.leadership = Leadership(registry)
        self.leadership.lead()  # a lone server leads; the cluster's election will decide
        self.notifier.status("starting the API")
        ssl_context = tls.server_ssl_context(paths)
        await self._serve(registry, ssl_context)
        await self._wait_ready()
        log.info("API answers /readyz socket=%s", cfg.socket)  # tests check it precedes READY
        if cfg.run_pods:
            self.notifier.status("registering the node")
            await self._start_node_agent(registry)
        self._cert_refresh = asyncio.create_task(self._keep_certificates_fresh(ssl_context),
                                                 name="certificate-refresh")
        status = f"serving https://{cfg.bind_address}:{cfg.secure_port} and {cfg.socket}"
        self.notifier.ready(status)
        log.info("daemon ready node=%s address=%s port=%d socket=%s kubeconfig=%s",
                 cfg.node_name, cfg.bind_address, cfg.secure_port, cfg.socket,
                 cfg.kubeconfig_path)

    async def _prepare_pki(self) -> tls.PkiPaths:
        """Run `minikube13 certs ensure` in a child: the daemon never loads cryptography."""
        cfg = self.config
        cmd = [*_self_command(), "certs", "ensure", "--pki-dir", str(cfg.pki_dir),
               "--kubeconfig", str(cfg.kubeconfig_path),
               "--server", f"https://{cfg.local_server_host}:{cfg.secure_port}",
               "--node-name", cfg.node_name, "--bind-address", cfg.bind_address]
        child = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await child.communicate()
        lines = err.decode(errors="replace").strip().splitlines()
        for line in lines:
            log.info("certs: %s", line)
        if child.returncode != 0:
            raise tls.PkiError(lines[-1] if lines else f"certs exited {child.returncode}")
        return tls.PkiPaths(cfg.pki_dir)

    async def _keep_certificates_fresh(self, ssl_context: ssl.SSLContext) -> None:
        """Renew certificates near expiry while running; new connections get the new one."""
        while True:
            await asyncio.sleep(CERT_CHECK_INTERVAL_S)
            try:
                paths = await self._prepare_pki()
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
        runtime = PodRuntime(cfg.data_dir, self_command=_self_command(),
                             allowed_registries=cfg.registry_allow,
                             backoff_initial_s=cfg.pod_backoff_initial,
                             backoff_max_s=cfg.pod_backoff_max, pids_limit=cfg.pids_limit)
        machine = await asyncio.to_thread(read_machine_info, cfg.bind_address)
        self._agent = NodeAgent(registry, runtime, cfg.node_name, machine,
                                backoff_initial_s=cfg.pod_backoff_initial,
                                backoff_max_s=cfg.pod_backoff_max)
        await self._agent.start()

    async def _serve(self, registry: ObjectRegistry, ssl_context: ssl.SSLContext) -> None:
        from minikube13.api.server import build_app
        from minikube13.runtime.streams import PodStreams
        cfg = self.config
        store = self.store
        assert store is not None
        # logs/exec/attach read this node's pod dirs, with or without the agent running
        app = build_app(registry, authenticate=authn.authenticate,
                        store_stats=store.stats, pod_streams=PodStreams(cfg.data_dir))
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
        if self._agent is not None:  # its pods keep running
            await _finish(asyncio.ensure_future(self._agent.close()), "node agent",
                          CONTROLLERS_GRACE_S)
            self._agent = None
        if self._runner is not None:
            await self._runner.cleanup()  # listeners first, then handlers get their grace
            self._runner = None
        if self.leadership is not None:
            await self.leadership.step_down()
            self.leadership = None
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


class Leadership:
    """The one leader switch: the scheduler and the controllers run only while this server
    leads. A lone server leads from its start; with several servers the election will call
    lead() and step_down()."""

    def __init__(self, registry: ObjectRegistry):
        self.registry = registry
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def leading(self) -> bool:
        return bool(self._tasks)

    def lead(self) -> None:
        if self.leading:
            return
        from minikube13.controllers import run_controllers
        from minikube13.scheduler.runner import run_scheduler
        self._stop = asyncio.Event()
        self._tasks = [
            asyncio.create_task(run_controllers(self.registry, self._stop), name="controllers"),
            asyncio.create_task(run_scheduler(self.registry, self._stop), name="scheduler")]
        log.info("leading: controllers and scheduler started")

    async def step_down(self) -> None:
        self._stop.set()
        for task in self._tasks:
            await _finish(task, task.get_name(), CONTROLLERS_GRACE_S)
        self._tasks = []


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


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("signal received signal=%s", sig.name)
    stop.set()


async def _finish(work: asyncio.Future[None], what: str, grace: float) -> None:
    try:
        await asyncio.wait_for(work, grace)
    except TimeoutError:
        log.warning("did not stop in time part=%s grace_s=%.0f", what, grace)
    except Exception:
        log.exception("failed while stopping part=%s", what)


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
