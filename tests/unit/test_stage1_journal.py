"""Container output in the journal: `journalctl CONTAINER_NAME=web` finds its lines."""

from __future__ import annotations

from pathlib import Path

from minikube13.runtime import crilog
from minikube13.runtime.stage1.logs import Journal, LogSink
from minikube13.testing.fake_journal import FakeJournal

POD = {"POD_NAME": "web-1", "POD_NAMESPACE": "shop", "POD_UID": "u-1"}


def test_each_line_goes_to_the_journal_with_pod_and_container_fields(tmp_path: Path) -> None:
    """Complete lines carry CONTAINER_NAME, POD_NAME, POD_NAMESPACE and POD_UID."""
    fake = FakeJournal()
    sink = LogSink(tmp_path / "0.log", "web", Journal(dict(POD), send=fake))
    sink.feed("stdout", b"hello\nwor")
    sink.feed("stderr", b"oops\n")
    sink.close()
    assert [(e["MESSAGE"], e["PRIORITY"]) for e in fake.matching(CONTAINER_NAME="web", **POD)
            ] == [("hello", "6"), ("oops", "3")]
    lines = (tmp_path / "0.log").read_bytes().splitlines()
    assert [crilog.decode(line).content for line in lines] == [b"hello", b"oops", b"wor"]


def test_a_broken_journal_is_dropped_and_the_file_still_gets_the_line(tmp_path: Path) -> None:
    """After one failed send the journal is skipped; the CRI log file is unaffected."""
    fake = FakeJournal(fail_with=OSError("socket gone"))
    journal = Journal(dict(POD), send=fake)
    sink = LogSink(tmp_path / "0.log", "web", journal)
    sink.feed("stdout", b"a\nb\n")
    sink.close()
    assert journal._send is None and fake.entries == []
    assert len((tmp_path / "0.log").read_bytes().splitlines()) == 2
