"""The daemon's frozen configuration: command-line flags over environment over defaults.

Each flag `--some-flag` has an environment variable `MINIKUBE13_SOME_FLAG`, read from the
process environment (where systemd's `EnvironmentFile=` puts it) and from the environment
file `/etc/default/minikube13d` (so `make up` and a hand-started daemon see the same
settings). Flags win over the process environment, which wins over the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from minikube13.gossip.config import DEFAULT_PROFILE, PROFILES

DEFAULT_ENV_FILE = Path("/etc/default/minikube13d")
ENV_FILE_VARIABLE = "MINIKUBE13_ENV_FILE"
ENV_PREFIX = "MINIKUBE13_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class ConfigError(Exception):
    """A setting has a value the daemon cannot use; the message names where it came from."""


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("/var/lib/minikube13")
    config_dir: Path = Path("/etc/minikube13")
    socket: Path = Path("/run/minikube13/api.sock")
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    node_name: str = ""  # "" = the hostname, lower-cased
    log_level: str = "INFO"
    run_pods: bool = True  # the node agent: register this Node and run the pods bound to it
    registry_allow: tuple[str, ...] = ("*",)  # image registries pulls may use (fnmatch)
    pod_backoff_initial: float = 10.0  # container restart back-off, seconds (kubelet: 10)
    pod_backoff_max: float = 300.0     # ... doubling up to this (kubelet: 300)
    pids_limit: int = 4096             # each container's pids cgroup limit
    # -- cluster (gossip, joining, agents) --
    server: str = ""            # "" = this node is a server; host[:port] = an agent of that server
    token: str = ""             # join token (K10<ca-sha256>::<id>.<secret>) an agent joins with
    advertise_address: str = ""  # address other nodes reach this one at ("" = bind or first global)
    gossip_port: int = 7946     # memberlist UDP+TCP port (serf's default)
    gossip_profile: str = DEFAULT_PROFILE  # gossip timing: fast, lan or wan (gossip.config)
    zone: str = ""              # failure-domain.beta.kubernetes.io/zone of this node
    region: str = ""            # failure-domain.beta.kubernetes.io/region of this node
    node_grace: float = 40.0    # a node dead to every member this long turns NotReady
    pod_eviction_timeout: float = 300.0  # ... and its pods are evicted after this much more
    # -- pod network, services, DNS --
    pod_network: bool = True    # bridge + veth per pod; off: pods get a netns with lo only
    cluster_cidr: str = "10.42.0.0/16"   # pod addresses; each node gets one /node_cidr_mask
    node_cidr_mask: int = 24
    service_cidr: str = "10.43.0.0/16"   # ClusterIPs
    node_port_range: str = "30000-32767"
    cluster_domain: str = "cluster.local"
    dns_port: int = 53          # the node's DNS server listens on its bridge address
    resolv_conf: Path = Path("/etc/resolv.conf")  # upstream resolvers and search domains (kubelet --resolv-conf)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def pki_dir(self) -> Path:
        return self.config_dir / "pki"

    @property
    def kubeconfig_path(self) -> Path:
        return self.config_dir / "admin.kubeconfig"

    @property
    def local_server_host(self) -> str:
        """The address a local client uses to reach the TLS listener."""
        addr = ipaddress.ip_address(self.bind_address)
        if addr.is_unspecified or addr.is_loopback:
            return "[::1]" if addr.version == 6 and addr.is_loopback else "127.0.0.1"
        return f"[{addr}]" if addr.version == 6 else str(addr)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, quotes)."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = _ENV_LINE.match(line)
        if m is None:
            raise ConfigError(f"{source}:{lineno}: expected NAME=value, got {line!r}")
        key, value = m.group(1), m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """The file's variables; a missing file is no settings (like `EnvironmentFile=-`)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    values = parse_env_file(text, str(path))
    known = {env_name(f.name) for f in fields(Config)} | {ENV_FILE_VARIABLE}
    for key in values:
        if key.startswith(ENV_PREFIX) and key not in known:
            raise ConfigError(f"{path}: unknown setting {key} (known: {', '.join(sorted(known))})")
    return values


def load_config(flags: Mapping[str, object], environ: Mapping[str, str] | None = None,
                env_file: Path | None = None) -> Config:
    """Merge flags (None = not given), the environment and the environment file."""
    environ = os.environ if environ is None else environ
    if env_file is None:
        env_file = Path(environ.get(ENV_FILE_VARIABLE) or DEFAULT_ENV_FILE)
    from_file = read_env_file(env_file)
    raw: dict[str, tuple[str, str]] = {}  # field -> (value, where it came from)
    for f in fields(Config):
        var = env_name(f.name)
        if flags.get(f.name) is not None:
            raw[f.name] = (str(flags[f.name]), "--" + f.name.replace("_", "-"))
        elif var in environ:
            raw[f.name] = (environ[var], f"environment variable {var}")
        elif var in from_file:
            raw[f.name] = (from_file[var], f"{env_file}: {var}")
    return _validated(raw)


def _validated(raw: Mapping[str, tuple[str, str]]) -> Config:
    values: dict[str, object] = {}
    for name, (value, where) in raw.items():
        try:
            values[name] = _PARSERS[name](value)
        except ValueError as e:
            raise ConfigError(f"{where}={value!r}: {e}") from None
    initial = values.get("pod_backoff_initial", Config.pod_backoff_initial)
    if float(initial) > float(values.get("pod_backoff_max", Config.pod_backoff_max)):  # type: ignore[arg-type]
        raise ConfigError(f"pod back-off: the initial {initial}s is above the maximum")
    if not values.get("node_name"):
        values["node_name"] = hostname_node_name(socket.gethostname())
    return Config(**values)  # type: ignore[arg-type]


def hostname_node_name(hostname: str) -> str:
    """A valid node name made from the machine's hostname (first label kept whole)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", hostname.strip().lower()).strip("-.")
    return name or "localhost"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ValueError("not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise ValueError("not a port number (1-65535)")
    return port


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise ValueError("not an IP address (use 0.0.0.0 for every IPv4 address, :: for all)") from None


def _directory(value: str) -> Path:
    if not value.strip():
        raise ValueError("empty path")
    return Path(value).expanduser().absolute()


def _node_name(value: str) -> str:
    name = value.strip().lower()
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise ValueError("not a valid node name (lower-case letters, digits, '-' and '.')")
    return name


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean (true or false)")


def _patterns(value: str) -> tuple[str, ...]:
    patterns = tuple(p.strip() for p in value.split(",") if p.strip())
    if not patterns:
        raise ValueError("no registry patterns (use * for any registry)")
    return patterns


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("not a number of seconds") from None
    if not 0 < seconds <= 86400:
        raise ValueError("not a number of seconds (0 < s <= 86400)")
    return seconds


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("not a whole number") from None
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"not a log level ({', '.join(LOG_LEVELS)})")
    return level


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError:
        raise ValueError("not a network in CIDR notation (like 10.42.0.0/16)") from None


def _mask(value: str) -> int:
    number = _positive_int(value)
    if not 8 <= number <= 30:
        raise ValueError("not a prefix length between 8 and 30")
    return number


def _port_range(value: str) -> str:
    low, sep, high = value.strip().partition("-")
    if not sep or _port(low) > _port(high):
        raise ValueError("not a port range (like 30000-32767)")
    return f"{int(low)}-{int(high)}"


def _server(value: str) -> str:
    text = value.strip().removeprefix("https://").rstrip("/")
    if text and not re.match(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$", text):
        raise ValueError("not a server address (host or host:port)")
    return text


def _label_value(value: str) -> str:
    text = value.strip()
    if text and not re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", text):
        raise ValueError("not a label value (letters, digits, '-', '_', '.'; at most 63)")
    return text


def _gossip_profile(value: str) -> str:
    text = value.strip().lower()
    if text not in PROFILES:
        raise ValueError(f"not a gossip profile (one of {', '.join(PROFILES)})")
    return text


def _optional_address(value: str) -> str:
    return _address(value) if value.strip() else ""


def _domain(value: str) -> str:
    name = value.strip().strip(".").lower()
    if not _DNS1123_SUBDOMAIN.match(name):
        raise ValueError("not a DNS domain")
    return name


_PARSERS = {
    "data_dir": _directory,
    "config_dir": _directory,
    "socket": _directory,
    "bind_address": _address,
    "secure_port": _port,
    "node_name": lambda v: _node_name(v) if v.strip() else "",
    "log_level": _log_level,
    "run_pods": _bool,
    "registry_allow": _patterns,
    "pod_backoff_initial": _seconds,
    "pod_backoff_max": _seconds,
    "pids_limit": _positive_int,
    "server": _server,
    "token": lambda v: v.strip(),
    "advertise_address": _optional_address,
    "gossip_port": _port,
    "gossip_profile": _gossip_profile,
    "zone": _label_value,
    "region": _label_value,
    "node_grace": _seconds,
    "pod_eviction_timeout": _seconds,
    "pod_network": _bool,
    "cluster_cidr": _cidr,
    "node_cidr_mask": _mask,
    "service_cidr": _cidr,
    "node_port_range": _port_range,
    "cluster_domain": _domain,
    "dns_port": _port,
    "resolv_conf": _directory,
}
