"""Service records on disk: one JSON file each under DIR/.pgod/state/, written atomically
(temp file, fsync, rename, fsync of the directory). Reading never fails: a missing or
corrupt record is reported and the caller rebuilds it from what runs.

Records from before (DIR/.pgod/NAME, one commit hash) are read as deployed = last good.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import asdict, fields, replace
from typing import Any

from pgo.state import Attempt, Fetch, Mark, Outcome, Record, State

VERSION = 1
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
MAX_RECORD = 4 * 1024 * 1024


# What decode raises for bytes that are not a record.
DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError)


class Unreadable(Exception):
    """A record that exists but cannot be used: says why."""


def record_path(state_dir: str, name: str) -> str:
    return os.path.join(state_dir, "state", name + ".json")


def legacy_path(state_dir: str, name: str) -> str:
    return os.path.join(state_dir, name)


def load(state_dir: str, name: str) -> Record | None:
    """The service's record; None if there is none. Unreadable if one exists but is
    corrupt (truncated, garbage, another service's, not UTF-8)."""
    path = record_path(state_dir, name)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RECORD + 1)
    except FileNotFoundError:
        return _load_legacy(state_dir, name)
    except OSError as err:
        raise Unreadable(f"{path}: {err.strerror}") from None
    try:
        record = decode(data)
    except DECODE_ERRORS as err:
        raise Unreadable(f"{path}: {err}") from None
    if record.service != name:
        raise Unreadable(f"{path}: holds service {record.service!r}, not {name!r}")
    return record


def _load_legacy(state_dir: str, name: str) -> Record | None:
    """The old record, DIR/.pgod/NAME holding a commit hash; None if there is none (or the
    name is that of something else of pgod's there, such as its host key)."""
    text = _legacy_commit(legacy_path(state_dir, name))
    if text is None:
        return None
    return Record(service=name, state=State.OK, deployed=text, last_good=text)


def _legacy_commit(path: str) -> str | None:
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            text = handle.read(200).decode("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return None  # not an old record (pgod wrote those in ASCII)
    return text if _COMMIT.fullmatch(text) else None


def worth_saving(saved: Record, record: Record) -> bool:
    """Whether `record` must be written when `saved` is on disk: it differs in more than the
    time of a fetch that went as the last one did (an idle pass, whose only news is that
    time, writes nothing; the record on disk keeps the time of the last write)."""
    if saved.last_fetch is not None and record.last_fetch is not None and \
            replace(saved.last_fetch, time=record.last_fetch.time) == record.last_fetch:
        saved = replace(saved, last_fetch=record.last_fetch)
    return saved != record


def save(state_dir: str, record: Record) -> None:
    """Write `record` atomically; OSError (a full disk, say) leaves the previous intact."""
    path = record_path(state_dir, record.service)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    old = legacy_path(os.path.dirname(directory), record.service)
    if _legacy_commit(old) is not None:  # only an old record: never the host key, say
        with contextlib.suppress(OSError):
            os.unlink(old)


def names(state_dir: str) -> list[str]:
    """The services that have a record (the new kind)."""
    try:
        entries = os.listdir(os.path.join(state_dir, "state"))
    except FileNotFoundError:
        return []
    return sorted(e.removesuffix(".json") for e in entries if e.endswith(".json"))


def encode(record: Record) -> bytes:
    data = {"version": VERSION, **to_json(record)}
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()


def to_json(record: Record) -> dict[str, Any]:
    """The record as plain JSON values (also `status --json`'s base)."""
    data = asdict(record)
    data["state"] = record.state.value
    data["history"] = [_attempt_json(a) for a in record.history]
    data["last_attempt"] = _attempt_json(record.last_attempt) if record.last_attempt else None
    return data


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {**asdict(attempt), "outcome": attempt.outcome.value}


def decode(data: bytes) -> Record:
    """A record from `encode`'s bytes; ValueError/TypeError/KeyError if it is not one."""
    if len(data) > MAX_RECORD:
        raise ValueError("larger than a record can be")
    raw = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a pgod service record (version 1)")
    known = {f.name for f in fields(Record)}
    values = {k: v for k, v in raw.items() if k in known}
    for key in ("deployed", "last_good", "upstream", "broken", "refused"):
        if values.get(key) is not None and not _COMMIT.fullmatch(str(values[key])):
            raise ValueError(f"{key}: not a commit hash")
    values["state"] = State(values["state"])
    values["frozen"] = _mark(values.get("frozen"))
    values["stopped"] = _mark(values.get("stopped"))
    values["host_stop"] = _mark(values.get("host_stop"))
    values["last_fetch"] = Fetch(**values["last_fetch"]) if values.get("last_fetch") else None
    values["last_attempt"] = _attempt(values["last_attempt"]) if values.get(
        "last_attempt") else None
    values["history"] = tuple(_attempt(a) for a in values.get("history", []))
    values["broken_images"] = tuple(values.get("broken_images", ()))
    record = Record(**values)
    _check_types(record)
    return record


def _mark(value: Any) -> Mark | None:
    return None if value is None else Mark(**value)


def _attempt(value: Any) -> Attempt:
    return Attempt(**{**value, "outcome": Outcome(value["outcome"])})


def _check_types(record: Record) -> None:
    """Every field the type it is declared with (json gives any value anywhere)."""
    _types(record, str, "service", "user", "broken_config")
    _types(record, (str, type(None)), "reason", "image_reason")
    if not all(isinstance(d, str) for d in record.broken_images):
        raise TypeError("broken_images: not a list of digests")
    _types(record, _NUMBER, "since", "retry_at")
    _types(record, int, "failures")
    _types(record, bool, "failing", "held")
    for mark in (record.frozen, record.stopped, record.host_stop):
        if mark is not None:
            _types(mark, str, "by", "reason")
            _types(mark, _NUMBER, "at")
    if record.last_fetch is not None:
        _types(record.last_fetch, _NUMBER, "time")
        _types(record.last_fetch, int, "failures")
        _types(record.last_fetch, (str, type(None)), "error")
    for attempt in (*record.history, *([record.last_attempt] if record.last_attempt else [])):
        _types(attempt, str, "commit", "subject", "trigger", "reason")
        _types(attempt, _NUMBER, "time")


_NUMBER = (int, float)
_LAST_TIME = 253402300799  # 9999-12-31T23:59:59Z


def _types(value: object, kind: type | tuple[type, ...], *names: str) -> None:
    for name in names:
        field = getattr(value, name)
        if not isinstance(field, kind) or (kind in (int, _NUMBER) and isinstance(field, bool)):
            raise TypeError(f"{name}: {field!r} is not of the right type")
        if isinstance(field, int | float) and kind is _NUMBER and \
                not 0 <= field <= _LAST_TIME:  # (NaN too)
            raise ValueError(f"{name}: {field!r} is not a time pgod could have written")
