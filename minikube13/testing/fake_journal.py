"""A journald stand-in: records what `systemd.journal.send` would have sent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeJournal:
    """Call it like `journal.send(MESSAGE, **fields)`; `entries` holds every field dict."""

    entries: list[dict[str, str]] = field(default_factory=list)
    fail_with: OSError | None = None  # raise this on send, as a full or missing socket does

    def __call__(self, MESSAGE: str, MESSAGE_ID: str | None = None,  # noqa: N803
                 CODE_FILE: str | None = None, CODE_LINE: int | None = None,  # noqa: N803
                 CODE_FUNC: str | None = None, **fields: str | bytes) -> None:  # noqa: N803
        """The argument rules of systemd-python's journal.send, which raises on others."""
        if not isinstance(MESSAGE, str):
            raise TypeError("MESSAGE must be a str")
        if CODE_LINE is not None and not isinstance(CODE_LINE, int):
            raise ValueError("CODE_LINE must be an int")  # journal.send formats it with {:d}
        if self.fail_with is not None:
            raise self.fail_with
        entry = {"MESSAGE": MESSAGE}
        code: dict[str, str | int | None] = {"MESSAGE_ID": MESSAGE_ID, "CODE_FILE": CODE_FILE,
                                             "CODE_LINE": CODE_LINE, "CODE_FUNC": CODE_FUNC}
        entry.update({k: str(v) for k, v in code.items() if v is not None})
        for key, raw in fields.items():
            entry[key] = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        self.entries.append(entry)

    def matching(self, **want: str) -> list[dict[str, str]]:
        """Entries whose fields equal every `want` (as `journalctl FIELD=value` selects)."""
        return [e for e in self.entries if all(e.get(k) == v for k, v in want.items())]
