"""Daemon logging: structured records to journald, or key=value lines on stderr.

A log record's journal fields come from three places: COMPONENT= is the logger's name;
`extra={"pod_uid": ..., "namespace": ..., "object": ...}` become POD_UID=, NAMESPACE= and
OBJECT=; `extra={"journal_fields": {...}}` is passed through as it stands (the audit
records' MESSAGE_ID= and AUDIT_*= fields). The same fields end a plain stderr line as
`key=value`, so nothing is lost without journald.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
IDENTIFIER = "minikube13d"
LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
# Record attributes (from extra=) -> journal field names.
EXTRA_FIELDS = {"pod_uid": "POD_UID", "namespace": "NAMESPACE", "object": "OBJECT"}
FIELDS_ATTR = "journal_fields"
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
             logging.DEBUG: 7}

# systemd.journal.send(MESSAGE, **fields): the real one, or a fake in tests.
JournalSender = Callable[..., Any]


def record_fields(record: logging.LogRecord) -> dict[str, str]:
    """The structured fields a record carries, by journal field name (values as text)."""
    fields = {"COMPONENT": record.name}
    for attr, name in EXTRA_FIELDS.items():
        value = getattr(record, attr, None)
        if value is not None and value != "":
            fields[name] = str(value)
    passed: Mapping[str, Any] | None = getattr(record, FIELDS_ATTR, None)
    if passed:
        fields.update({k: str(v) for k, v in passed.items()})
    return fields


def priority(levelno: int) -> int:
    """syslog priority of a logging level (an in-between level rounds to the milder one)."""
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


class JournalHandler(logging.Handler):
    """Sends each record to journald with its structured fields."""

    def __init__(self, send: JournalSender, identifier: str = IDENTIFIER,
                 level: int = logging.NOTSET):
        super().__init__(level)
        self.send = send
        self.identifier = identifier
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            fields = record_fields(record)
            fields.update(PRIORITY=str(priority(record.levelno)),
                          SYSLOG_IDENTIFIER=self.identifier)
            # journal.send formats CODE_LINE with {:d}: it must stay an int
            self.send(message, CODE_FILE=record.pathname, CODE_LINE=record.lineno,
                      CODE_FUNC=record.funcName, **fields)
        except Exception:  # logging must never take the daemon down
            self.handleError(record)


class KeyValueFormatter(logging.Formatter):
    """LOG_FORMAT, then the record's structured fields as lower-case key=value pairs."""

    def __init__(self, fmt: str = LOG_FORMAT):
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record_fields(record)
        del fields["COMPONENT"]  # already there as logger=
        tail = " ".join(f"{k.lower()}={_quote(v)}" for k, v in fields.items())
        if not tail:
            return line
        head, sep, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {tail}{sep}{rest}"


def _quote(value: str) -> str:
    if value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stderr_is_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    """True when systemd connected our stderr to journald ($JOURNAL_STREAM = its dev:inode)."""
    want = environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


def journal_sender() -> JournalSender | None:
    """systemd-python's journal.send, or None where it is not installed."""
    try:
        from systemd import journal  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    send: JournalSender = journal.send
    return send


def choose_handlers(environ: Mapping[str, str], stream: TextIO,
                    send: JournalSender | None, socket_exists: bool) -> list[logging.Handler]:
    """journald alone when stderr already goes there; journald and stderr when only the
    socket exists (a person at a terminal still sees the log); stderr alone otherwise."""
    plain = logging.StreamHandler(stream)
    plain.setFormatter(KeyValueFormatter())
    if send is None:
        return [plain]
    if stderr_is_journal(environ, stream) or (environ.get("JOURNAL_STREAM") and socket_exists):
        return [JournalHandler(send)]
    if socket_exists:
        return [JournalHandler(send), plain]
    return [plain]


def setup_logging(level: str | int, environ: Mapping[str, str] | None = None,
                  stream: TextIO | None = None) -> list[logging.Handler]:
    """Install the daemon's root handlers (replacing any); returns them."""
    env = os.environ if environ is None else environ
    out = sys.stderr if stream is None else stream
    handlers = choose_handlers(env, out, journal_sender(), JOURNAL_SOCKET.exists())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    return handlers
