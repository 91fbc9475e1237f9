"""Cron schedules of CronJob / ScheduledJob: validation with the apiserver's messages, and the
next run time the CronJob controller needs.

The apiserver parses schedules with robfig/cron's standard parser (five fields, optional
`TZ=`/`CRON_TZ=` prefix, `@hourly`-style descriptors); we run them with croniter and keep
robfig's error texts where users see them (`beginning of range (0) below minimum (1): 0`).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, tzinfo

from minikube13.model import errors as fe
from minikube13.model.errors import FieldError

# robfig/cron's bounds and names for the five standard fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(
        ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_TZ_PREFIX = re.compile(r"^(?:CRON_)?TZ=(\S*)\s+")
_TZ_CHARS = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


class ScheduleError(ValueError):
    """A schedule the apiserver would refuse; str() is robfig/cron's message."""


def split_time_zone(schedule: str) -> tuple[str | None, str]:
    """`CRON_TZ=Europe/Paris 0 3 * * *` -> ("Europe/Paris", "0 3 * * *")."""
    text = schedule.strip()
    match = _TZ_PREFIX.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end():].strip()


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA zone the way Go's time.LoadLocation sees it, or None."""
    if not name:
        return "timeZone must be nil or non-empty string"
    if name.lower() == "local":
        return "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
    for part in name.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_CHARS.match(part):
            return f"unknown time zone {name}"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name}"
    return None


def _field_problem(text: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for item in text.split(","):
        body = item.split("/", 1)[0]
        if body in ("*", "?", ""):
            continue
        for end in body.split("-", 1):
            value = names.get(end.lower()) if end.lower() in names else _int_or_none(end)
            if value is None:
                return None  # not a plain number: croniter has the last word
            if value < low:
                return f"beginning of range ({value}) below minimum ({low}): {item}"
            if value > high:
                return f"end of range ({value}) above maximum ({high}): {item}"
    return None


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse(expression: str) -> None:
    """Raise ScheduleError unless `expression` (no TZ prefix) is a standard cron schedule."""
    if expression.startswith("@"):
        if expression not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {expression}")
        return
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: "
                            f"[{' '.join(fields)}]")
    for text, (_, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, low, high, names)
        if problem:
            raise ScheduleError(problem)
    try:
        from croniter import croniter  # on first use: the daemon's idle memory counts
        croniter(expression)
    except (ValueError, KeyError) as err:
        raise ScheduleError(str(err)) from err


def validate_schedule(schedule: object, time_zone: object, path: str) -> list[FieldError]:
    """spec.schedule of a CronJob. A TZ prefix is accepted (as 1.3-1.26 servers did), but not
    together with spec.timeZone."""
    if not isinstance(schedule, str) or not schedule.strip():
        return [fe.required(path)]
    zone, expression = split_time_zone(schedule)
    out: list[FieldError] = []
    if zone is not None:
        problem = time_zone_problem(zone)
        if problem:
            out.append(fe.invalid(path, schedule, f"provided bad location {zone}: {problem}"))
        if time_zone is not None:
            out.append(fe.invalid(path, schedule, "cannot use both timeZone field and TZ or "
                                  "CRON_TZ in schedule"))
    try:
        parse(expression)
    except ScheduleError as err:
        out.append(fe.invalid(path, schedule, str(err)))
    return out


def validate_time_zone(time_zone: object, path: str) -> list[FieldError]:
    """spec.timeZone: nil, or an IANA zone name known to this machine's tz database."""
    if time_zone is None:
        return []
    if not isinstance(time_zone, str):
        return [fe.invalid(path, time_zone, "must be a string")]
    problem = time_zone_problem(time_zone)
    return [fe.invalid(path, time_zone, problem)] if problem else []


def zone_of(schedule: str, time_zone: str | None, default: tzinfo) -> tzinfo:
    """The zone a schedule runs in: spec.timeZone, else its TZ prefix, else `default`."""
    name = time_zone or split_time_zone(schedule)[0]
    return zoneinfo.ZoneInfo(name) if name else default


def next_schedule_time(schedule: str, time_zone: str | None, after: datetime) -> datetime:
    """The first run strictly after `after` (an aware datetime), in `after`'s zone."""
    zone = zone_of(schedule, time_zone, after.tzinfo or zoneinfo.ZoneInfo("UTC"))
    _, expression = split_time_zone(schedule)
    from croniter import croniter
    run = croniter(expression, after.astimezone(zone)).get_next(datetime)
    assert isinstance(run, datetime)
    return run.astimezone(after.tzinfo)
