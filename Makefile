# minikube13 — `make up` runs a one-node cluster here, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SYSTEM_PYTHON ?= /usr/bin/python3
VENV          := .venv
PY            := $(VENV)/bin/python
DEPS_STAMP    := $(VENV)/.deps-stamp
APT_PACKAGES  := python3-venv python3-dev libsystemd-dev pkg-config sqlite3 \
                 runc busybox-static iproute2 nftables util-linux skopeo umoci docker-registry \
                 debootstrap systemd-container lintian binutils serf
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DATA_DIR      := /var/lib/minikube13
CONFIG_DIR    := /etc/minikube13
RUN_DIR       := /run/minikube13
LOG_DIR       := /var/log/minikube13
PID_FILE      := $(RUN_DIR)/minikube13d.pid
LOG_FILE      := $(LOG_DIR)/minikube13d.log
SOCKET        := $(RUN_DIR)/api.sock
KUBECONFIG_FILE := $(CONFIG_DIR)/admin.kubeconfig
BASE_IMAGES   := build/images/busybox.oci
DIST          ?= dist
READY_TIMEOUT := 60
STOP_TIMEOUT  := 30

# true when the pid file names a live minikube13 process (not a recycled pid)
daemon_alive = { [ -f $(PID_FILE) ] && grep -qa minikube13 /proc/$$(cat $(PID_FILE))/cmdline 2>/dev/null; }

.PHONY: help deps images up down test lint bench clean package

help:
	@echo "make up     install what is missing, start minikube13d in the background"
	@echo "make down   stop it (the data stays in $(DATA_DIR))"
	@echo "make test   ruff, mypy and the whole pytest suite"
	@echo "make lint   ruff and mypy only"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make deps   Debian packages and the virtual environment $(VENV)"
	@echo "make images build the base images from rootfs/ into build/images"
	@echo "make package  dist/minikube13 (one self-contained executable) and dist/*.deb"
	@echo "make clean  remove caches and build outputs"

deps: $(DEPS_STAMP)

# Re-run only when pyproject.toml changes (or the venv is gone).
$(DEPS_STAMP): pyproject.toml Makefile
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

# The base images are built from Debian packages (no registry needed), reproducibly.
images: $(BASE_IMAGES)/index.json

$(BASE_IMAGES)/index.json: rootfs/busybox/build.py $(DEPS_STAMP)
	$(PY) rootfs/busybox/build.py $(BASE_IMAGES)

up: deps images
	@mkdir -p $(RUN_DIR) $(LOG_DIR)
	@$(VENV)/bin/minikube13 images import $(BASE_IMAGES) --data-dir $(DATA_DIR) >/dev/null
	@if $(daemon_alive); then \
	  echo "minikube13d is already running (pid $$(cat $(PID_FILE)))"; \
	else \
	  setsid nohup $(VENV)/bin/minikube13d >>$(LOG_FILE) 2>&1 </dev/null & \
	  echo $$! > $(PID_FILE); \
	  echo "started minikube13d (pid $$(cat $(PID_FILE))), waiting for it to be ready..."; \
	fi
	@for i in $$(seq 1 $$(( $(READY_TIMEOUT) * 5 ))); do \
	  if ! $(daemon_alive); then \
	    echo "minikube13d exited; the end of $(LOG_FILE):"; tail -n 30 $(LOG_FILE); exit 1; \
	  fi; \
	  if $(VENV)/bin/minikube13 get namespaces -o name --socket $(SOCKET) 2>/dev/null \
	      | grep -q '^namespace/kube-public$$'; then \
	    echo "minikube13d is ready. Try:"; \
	    echo "  kubectl --kubeconfig $(KUBECONFIG_FILE) get ns"; \
	    echo "Logs: $(LOG_FILE)"; exit 0; \
	  fi; \
	  sleep 0.2; \
	done; \
	echo "minikube13d not ready after $(READY_TIMEOUT)s; see $(LOG_FILE)"; exit 1

down:
	@if ! $(daemon_alive); then echo "minikube13d is not running"; rm -f $(PID_FILE); exit 0; fi; \
	pid=$$(cat $(PID_FILE)); kill -TERM "$$pid"; \
	for i in $$(seq 1 $$(( $(STOP_TIMEOUT) * 5 ))); do \
	  kill -0 "$$pid" 2>/dev/null || { rm -f $(PID_FILE); echo "minikube13d stopped (data kept in $(DATA_DIR))"; exit 0; }; \
	  sleep 0.2; \
	done; \
	echo "minikube13d did not stop in $(STOP_TIMEOUT)s; sending SIGKILL"; kill -KILL "$$pid"; rm -f $(PID_FILE)

lint: deps
	$(VENV)/bin/ruff check minikube13 tests bench packaging
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no tests: that is a failure too (make fails on any
# non-zero exit; the message says why).
test: lint images
	@rc=0; $(VENV)/bin/pytest -q || rc=$$?; \
	[ $$rc -ne 5 ] || echo "pytest collected no tests: that is a failure"; \
	exit $$rc

# the entry points (net.py runs the net_* parts; benchdaemon.py is a helper module)
BENCHES := store api scheduler podstart startup net gossip

bench: deps images
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

# PyInstaller is a build tool: the `package` extra, in the venv only when packaging.
PACKAGE_TOOLS_STAMP := $(VENV)/.package-tools-stamp

$(PACKAGE_TOOLS_STAMP): $(DEPS_STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,package]'
	@touch $@

# dist/minikube13 and dist/minikube13_<version>_<arch>.deb (lintian-checked); see packaging/.
package: images $(PACKAGE_TOOLS_STAMP)
	$(PY) packaging/build.py --dist $(DIST)

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
