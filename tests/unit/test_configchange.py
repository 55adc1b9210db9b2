"""What a new config changes on this machine (pgo.configchange)."""

from __future__ import annotations

from pgo.config import Config, parse_config
from pgo.configchange import ConfigChange, config_change, here


def config(*tables: str) -> Config:
    return parse_config("".join(tables), "/etc/pgo/pgod.toml")


def table(name: str, machines: str = "", branch: str = "main") -> str:
    return (f'[[services]]\nname = "{name}"\nuser = "u{name}"\nrepository = "file:///r/{name}"'
            f'\nbranch = "{branch}"\n' + (f'machines = [{machines}]\n' if machines else ""))


def test_added_removed_changed_and_the_rest_left_alone() -> None:
    old = config(table("a"), table("b"), table("c"))
    new = config(table("a"), table("c", branch="next"), table("d"))
    change = config_change(old, new, None)
    assert change == ConfigChange(added=("d",), removed=("b",), changed=("c",))
    assert change.describe() == "added d; removed b; changed c"


def test_the_same_config_changes_nothing() -> None:
    change = config_change(config(table("a")), config(table("a")), None)
    assert not change and change.describe() == "no service of this machine changed"


def test_a_service_moving_between_machines_is_removed_on_one_and_added_on_the_other() -> None:
    old = config(table("a", '"web1"'), table("b", '"db1"'))
    new = config(table("a", '"web1"'), table("b", '"web1"'))
    web1, db1 = frozenset({"web1"}), frozenset({"db1", "db1.example.org"})
    assert config_change(old, new, web1) == ConfigChange(added=("b",))
    assert config_change(old, new, db1) == ConfigChange(removed=("b",))
    assert list(here(new, db1)) == []


def test_another_machine_s_change_is_no_change_here() -> None:
    old = config(table("a", '"web1"'), table("b", '"db1"'))
    new = config(table("a", '"web1"'), table("b", '"db1"', branch="next"))
    assert not config_change(old, new, frozenset({"web1"}))
    # a key of a service that runs everywhere counts on every machine
    assert config_change(config(table("c")), config(table("c", branch="x")),
                         frozenset({"web1"})).changed == ("c",)
