"""The daemon's settings: flags, environment, environment file, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube13.daemon.config import Config, ConfigError, hostname_node_name, load_config


def _env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "minikube13d"
    path.write_text(text)
    return path


def test_defaults_match_the_documented_paths(tmp_path: Path) -> None:
    """With nothing set, the daemon uses /var/lib, /etc and /run paths and port 6443."""
    cfg = load_config({}, environ={}, env_file=tmp_path / "absent")
    assert cfg.data_dir == Path("/var/lib/minikube13")
    assert cfg.config_dir == Path("/etc/minikube13")
    assert cfg.socket == Path("/run/minikube13/api.sock")
    assert (cfg.bind_address, cfg.secure_port) == ("0.0.0.0", 6443)
    assert cfg.db_path == Path("/var/lib/minikube13/state.db")
    assert cfg.kubeconfig_path == Path("/etc/minikube13/admin.kubeconfig")
    assert cfg.node_name


def test_flags_win_over_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    """A flag beats MINIKUBE13_* in the environment, which beats the environment file."""
    env_file = _env_file(tmp_path, "# comment\nMINIKUBE13_SECURE_PORT=7000\n"
                         "MINIKUBE13_NODE_NAME='edge-1'\nexport MINIKUBE13_LOG_LEVEL=debug\n"
                         "MINIKUBE13_DATA_DIR=/srv/m13\n")
    environ = {"MINIKUBE13_SECURE_PORT": "7001", "MINIKUBE13_NODE_NAME": "edge-2"}
    cfg = load_config({"secure_port": "7002", "node_name": None}, environ=environ,
                      env_file=env_file)
    assert cfg.secure_port == 7002
    assert cfg.node_name == "edge-2"
    assert cfg.log_level == "DEBUG"
    assert cfg.data_dir == Path("/srv/m13")


def test_env_file_path_comes_from_the_environment(tmp_path: Path) -> None:
    """MINIKUBE13_ENV_FILE points the daemon at another environment file."""
    env_file = _env_file(tmp_path, "MINIKUBE13_BIND_ADDRESS=127.0.0.1\n")
    cfg = load_config({}, environ={"MINIKUBE13_ENV_FILE": str(env_file)})
    assert cfg.bind_address == "127.0.0.1"


@pytest.mark.parametrize(("line", "words"), [
    ("MINIKUBE13_SECURE_PORT=http", ["MINIKUBE13_SECURE_PORT", "'http'", "port number"]),
    ("MINIKUBE13_SECURE_PORT=70000", ["port number"]),
    ("MINIKUBE13_BIND_ADDRESS=localhost", ["MINIKUBE13_BIND_ADDRESS", "not an IP address"]),
    ("MINIKUBE13_NODE_NAME=Bad_Name!", ["MINIKUBE13_NODE_NAME", "node name"]),
    ("MINIKUBE13_LOG_LEVEL=loud", ["log level"]),
    ("MINIKUBE13_SECURE_PROT=6443", ["unknown setting MINIKUBE13_SECURE_PROT"]),
    ("just some words", [":1:", "expected NAME=value"]),
])
def test_bad_env_file_values_name_the_file_and_variable(tmp_path: Path, line: str,
                                                         words: list[str]) -> None:
    """A bad value in the environment file is an error that says where and why."""
    env_file = _env_file(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as err:
        load_config({}, environ={}, env_file=env_file)
    message = str(err.value)
    assert str(env_file) in message
    for word in words:
        assert word in message


def test_bad_flag_value_names_the_flag(tmp_path: Path) -> None:
    """A bad --secure-port is reported as the flag the user typed."""
    with pytest.raises(ConfigError, match="--secure-port='x'"):
        load_config({"secure_port": "x"}, environ={}, env_file=tmp_path / "absent")


def test_relative_directories_become_absolute(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--data-dir data means ./data, recorded as an absolute path."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config({"data_dir": "data"}, environ={}, env_file=tmp_path / "absent")
    assert cfg.data_dir == tmp_path / "data"


def test_hostname_becomes_a_valid_node_name() -> None:
    """A hostname with capitals or underscores still gives a valid node name."""
    assert hostname_node_name("My_Host.Example") == "my-host.example"
    assert hostname_node_name("__") == "localhost"


@pytest.mark.parametrize(("bind", "host"), [
    ("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"),
    ("::1", "[::1]"), ("10.1.2.3", "10.1.2.3"), ("fd00::5", "[fd00::5]"),
])
def test_kubeconfig_server_address_follows_the_bind_address(bind: str, host: str) -> None:
    """The admin kubeconfig points where the TLS listener can be reached locally."""
    assert Config(bind_address=bind).local_server_host == host


def test_pod_runtime_settings_have_kubelet_defaults(tmp_path: Path) -> None:
    """Pods run by default, from any registry, with the kubelet's 10 s -> 5 min back-off."""
    cfg = load_config({}, environ={}, env_file=tmp_path / "absent")
    assert cfg.run_pods is True and cfg.registry_allow == ("*",)
    assert (cfg.pod_backoff_initial, cfg.pod_backoff_max, cfg.pids_limit) == (10.0, 300.0, 4096)


def test_pod_runtime_settings_from_flags_and_environment(tmp_path: Path) -> None:
    """--no-run-pods arrives as False; MINIKUBE13_REGISTRY_ALLOW is a comma list."""
    environ = {"MINIKUBE13_REGISTRY_ALLOW": "127.0.0.1:*, localhost:*",
               "MINIKUBE13_POD_BACKOFF_INITIAL": "0.5", "MINIKUBE13_PIDS_LIMIT": "64"}
    cfg = load_config({"run_pods": False, "pod_backoff_max": "2"}, environ=environ,
                      env_file=tmp_path / "absent")
    assert cfg.run_pods is False
    assert cfg.registry_allow == ("127.0.0.1:*", "localhost:*")
    assert (cfg.pod_backoff_initial, cfg.pod_backoff_max, cfg.pids_limit) == (0.5, 2.0, 64)
    assert load_config({}, environ={"MINIKUBE13_RUN_PODS": "no"},
                       env_file=tmp_path / "absent").run_pods is False


@pytest.mark.parametrize(("flags", "words"), [
    ({"run_pods": "maybe"}, "--run-pods='maybe': not a boolean"),
    ({"registry_allow": " , "}, "--registry-allow"),
    ({"pids_limit": "0"}, "--pids-limit='0': must be at least 1"),
    ({"pod_backoff_initial": "-1"}, "--pod-backoff-initial"),
    ({"pod_backoff_initial": "20", "pod_backoff_max": "10"}, "above the maximum"),
])
def test_bad_pod_runtime_settings_are_refused(tmp_path: Path, flags: dict[str, object],
                                              words: str) -> None:
    """A bad pod runtime setting names the flag and why."""
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        load_config(flags, environ={}, env_file=tmp_path / "absent")


def test_gossip_profile_defaults_to_fast_and_refuses_unknown_names(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    assert load_config({}, environ={}, env_file=absent).gossip_profile == "fast"
    env = {"MINIKUBE13_GOSSIP_PROFILE": "WAN"}
    assert load_config({}, environ=env, env_file=absent).gossip_profile == "wan"
    with pytest.raises(ConfigError, match="--gossip-profile.*one of fast, lan, wan"):
        load_config({"gossip_profile": "quick"}, environ={}, env_file=absent)
