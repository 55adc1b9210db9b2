"""Records on disk: round trip, the old one-line file, corrupt records, a full disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgo import state, statestore
from pgo.state import Record, State
from pgo.status import history_text, status_text

A = "a" * 40


def full() -> Record:
    record = Record(service="svc", user="u", state=State.OK, deployed=A, last_good=A,
                    upstream=A)
    for event in (state.Froze("SHA256:k", "why ü"), state.FetchFailed("down"),
                  state.Deployed(A, "subject", "poll", "changed: x"),
                  state.ImagesBroke(A, "subject", ("sha256:" + "1" * 64,), "gate: exit 1")):
        record = state.transition(record, event, 1.5)
    return record


def test_a_record_round_trips(tmp_path: Path) -> None:
    statestore.save(str(tmp_path), full())
    assert statestore.load(str(tmp_path), "svc") == full()
    path = statestore.record_path(str(tmp_path), "svc")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert statestore.names(str(tmp_path)) == ["svc"]


def test_no_record_is_none(tmp_path: Path) -> None:
    assert statestore.load(str(tmp_path), "svc") is None


def test_the_old_one_line_record_is_deployed_and_last_good(tmp_path: Path) -> None:
    (tmp_path / "svc").write_text(A + "\n")
    record = statestore.load(str(tmp_path), "svc")
    assert record is not None and (record.deployed, record.last_good) == (A, A)
    statestore.save(str(tmp_path), record)
    assert not (tmp_path / "svc").exists()  # replaced by the new record


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe garbage \x00", b"[]", b"null",
                                  b'{"version": 1}', b'{"version": 2, "service": "svc"}'])
def test_a_corrupt_record_is_unreadable_not_fatal(tmp_path: Path, data: bytes) -> None:
    statestore.save(str(tmp_path), full())
    path = Path(statestore.record_path(str(tmp_path), "svc"))
    path.write_bytes(data)
    with pytest.raises(statestore.Unreadable, match=str(path)):
        statestore.load(str(tmp_path), "svc")


def test_a_truncated_record_is_unreadable(tmp_path: Path) -> None:
    statestore.save(str(tmp_path), full())
    path = Path(statestore.record_path(str(tmp_path), "svc"))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(statestore.Unreadable):
        statestore.load(str(tmp_path), "svc")


def test_non_ascii_in_the_old_record_is_no_record_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "svc").write_bytes("caf\u00e9\n".encode())  # (pgod exited 1 on this)
    assert statestore.load(str(tmp_path), "svc") is None


def test_a_service_named_like_pgods_own_files_touches_none_of_them(tmp_path: Path) -> None:
    key = tmp_path / "ssh_host_ed25519_key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert statestore.load(str(tmp_path), "ssh_host_ed25519_key") is None
    statestore.save(str(tmp_path), Record(service="ssh_host_ed25519_key"))
    assert key.read_text().startswith("-----BEGIN")  # the host key is not an old record
    statestore.save(str(tmp_path), Record(service="state"))
    assert statestore.load(str(tmp_path), "state") == Record(service="state")


def test_another_services_record_is_refused(tmp_path: Path) -> None:
    statestore.save(str(tmp_path), full())
    os.rename(statestore.record_path(str(tmp_path), "svc"),
              statestore.record_path(str(tmp_path), "other"))
    with pytest.raises(statestore.Unreadable, match="holds service 'svc'"):
        statestore.load(str(tmp_path), "other")


def test_a_failed_write_leaves_the_previous_record_whole(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    statestore.save(str(tmp_path), full())

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        statestore.save(str(tmp_path), Record(service="svc", user="other"))
    monkeypatch.undo()
    assert statestore.load(str(tmp_path), "svc") == full()
    assert sorted(os.listdir(tmp_path / "state")) == ["svc.json"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=10)


@given(st.sampled_from(sorted(statestore.to_json(full()))), JSON)
def test_any_value_in_any_field_loads_or_is_unreadable(key: str, value: object) -> None:
    """Whatever a damaged record holds, load() gives a record or Unreadable, never
    another exception (pgod must start)."""
    data = {"version": 1, **statestore.to_json(full()), key: value}
    try:
        record = statestore.decode(json.dumps(data).encode())
    except statestore.DECODE_ERRORS:
        return
    status_text(record, "file:///r", "main", [])  # a record that loads can be shown
    history_text(record, 100)
    statestore.decode(statestore.encode(record))


def test_only_a_later_time_of_a_fetch_like_the_last_is_not_worth_a_write() -> None:
    record = full()
    fetched = state.transition(record, state.Fetched(A), 2.0)
    again = state.transition(fetched, state.Fetched(A), 3.0)
    assert not statestore.worth_saving(fetched, again)       # an idle pass
    assert statestore.worth_saving(record, fetched)          # the failure is over
    failed = state.transition(again, state.FetchFailed("down"), 4.0)
    assert statestore.worth_saving(again, failed)
    assert statestore.worth_saving(failed, state.transition(failed, state.FetchFailed("down"),
                                                            5.0))  # (one more failure)
    assert statestore.worth_saving(again, state.transition(again, state.Fetched("b" * 40), 4.0))
    assert statestore.worth_saving(Record(service="svc", user="u"),
                                   state.transition(Record(service="svc", user="u"),
                                                    state.Fetched(A), 1.0))
