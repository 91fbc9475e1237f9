"""Daemon logging: journald fields through a fake journal, key=value lines without one."""

from __future__ import annotations

import io
import logging
import os
import tempfile

import pytest

from minikube13.daemon.journal import (
    JournalHandler,
    KeyValueFormatter,
    choose_handlers,
    priority,
    record_fields,
)
from minikube13.testing.fake_journal import FakeJournal


def _logger(handler: logging.Handler, name: str = "minikube13.node.agent") -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log


def test_journal_entry_has_component_and_extra_fields() -> None:
    """`journalctl COMPONENT=... POD_UID=...` finds a record logged with extra= fields."""
    journal = FakeJournal()
    log = _logger(JournalHandler(journal))
    log.warning("pod started uid=%s", "u1",
                extra={"pod_uid": "u1", "namespace": "default", "object": "pods/web"})
    [entry] = journal.entries
    assert entry["MESSAGE"] == "pod started uid=u1"
    assert entry["COMPONENT"] == "minikube13.node.agent"
    assert (entry["POD_UID"], entry["NAMESPACE"], entry["OBJECT"]) == ("u1", "default",
                                                                       "pods/web")
    assert entry["PRIORITY"] == "4" and entry["SYSLOG_IDENTIFIER"] == "minikube13d"
    assert entry["CODE_FUNC"] == "test_journal_entry_has_component_and_extra_fields"


def test_journal_fields_pass_through_and_tracebacks_stay_in_the_message() -> None:
    """extra={"journal_fields": ...} arrive as they are; an exception's text is kept."""
    journal = FakeJournal()
    log = _logger(JournalHandler(journal))
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed", extra={"journal_fields": {"MESSAGE_ID": "abc", "N": 3}})
    [entry] = journal.entries
    assert entry["MESSAGE_ID"] == "abc" and entry["N"] == "3"
    assert "ValueError: bad" in entry["MESSAGE"] and entry["PRIORITY"] == "3"


def test_a_failing_journal_does_not_raise() -> None:
    """A full or vanished journal socket costs the record, never the daemon."""
    log = _logger(JournalHandler(FakeJournal(fail_with=OSError("gone"))))
    log.info("still alive")  # logging.raiseExceptions prints, does not raise


def test_plain_lines_carry_the_same_fields() -> None:
    """Without journald the line ends with key=value fields, quoted when needed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(KeyValueFormatter())
    log = _logger(handler, "minikube13.runtime")
    log.info("launched", extra={"pod_uid": "u2", "object": "pods/a b"})
    line = out.getvalue().strip()
    assert "level=INFO logger=minikube13.runtime launched" in line
    assert line.endswith('pod_uid=u2 object="pods/a b"')


def test_record_fields_skip_missing_and_empty_values() -> None:
    """Only fields the record carries become journal fields."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.namespace = ""
    assert record_fields(record) == {"COMPONENT": "x"}
    assert [priority(v) for v in (50, 40, 30, 25, 20, 10, 5)] == [2, 3, 4, 6, 6, 7, 7]


def test_handlers_follow_where_stderr_goes() -> None:
    """journald alone under systemd, journald and stderr by a socket, stderr otherwise."""
    journal = FakeJournal()
    with tempfile.TemporaryFile("w+") as stream:
        st = os.fstat(stream.fileno())
        under_systemd = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        kinds = [[type(h).__name__ for h in choose_handlers(env, stream, send, sock)]
                 for env, send, sock in ((under_systemd, journal, False),
                                         ({}, journal, True),
                                         ({}, journal, False),
                                         (under_systemd, None, True))]
    assert kinds == [["JournalHandler"], ["JournalHandler", "StreamHandler"],
                     ["StreamHandler"], ["StreamHandler"]]


def test_handler_arguments_suit_the_real_journal_send() -> None:
    """systemd-python's journal.send accepts what the handler passes (where no journald
    socket exists it fails only at the socket, after checking the arguments)."""
    journal = pytest.importorskip("systemd.journal")
    errors: list[BaseException] = []

    def real_send(message: str, **fields: object) -> None:
        try:
            journal.send(message, **fields)
        except OSError:
            pass  # no journald here: the arguments were fine
        except Exception as e:
            errors.append(e)

    log = _logger(JournalHandler(real_send))
    log.info("x", extra={"pod_uid": "u", "journal_fields": {"MESSAGE_ID": "ab" * 16}})
    assert errors == []
