"""Registry logins' pure parts and the token file's checks (no podman here: the login
itself is tested against a real registry in tests/integration/test_registry.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pgo import registries
from pgo.errors import PgoError
from pgo.proc import Account
from pgo.registries import parse_registry


def test_the_auth_file_is_the_services_own_and_only_with_registries() -> None:
    one = [parse_registry("u:t@r.example.org")]
    assert registries.environment("/var/lib/pgo", "web", one) == {
        "REGISTRY_AUTH_FILE": "/var/lib/pgo/.registry-auth/web/auth.json"}
    assert registries.environment("/var/lib/pgo", "web", []) == {}


def test_scrub_takes_every_token_out() -> None:
    assert registries.scrub("bad tok1 and tok1, tok2", ["tok1", "tok2", ""]) == \
        "bad *** and ***, ***"


def test_a_token_file_must_be_roots_alone(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert "cannot read" in (registries.token_file_problem(str(path)) or "")
    path.write_text("t\n")
    path.chmod(0o640)
    assert "others may read" in (registries.token_file_problem(str(path)) or "")
    path.chmod(0o600)
    assert registries.token_file_problem(str(path)) is None


def test_an_empty_token_file_fails_the_login_naming_it_not_a_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n")
    path.chmod(0o600)
    registry = parse_registry(f"u:@file:{path}@r.example.org")
    with pytest.raises(PgoError, match=r"registry u@r\.example\.org \(token from .*\): the "
                                       r"token file is empty"):
        asyncio.run(registries.login(str(tmp_path), "web", Account.current(), [registry]))


def test_no_registries_removes_the_logins_left(tmp_path: Path) -> None:
    auth = Path(registries.auth_file(str(tmp_path), "web"))
    auth.parent.mkdir(parents=True)
    auth.write_text("{}")
    asyncio.run(registries.login(str(tmp_path), "web", Account.current(), []))
    assert not auth.parent.exists()
