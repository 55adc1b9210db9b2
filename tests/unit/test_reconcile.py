import pytest

from pgo.reconcile import Action, Observed, plan

A, B = "a" * 40, "b" * 40
CH, PU, BU, DO, UP = (Action.CHECKOUT, Action.PULL, Action.BUILD, Action.DOWN, Action.UP)
USED = frozenset({"compose.yaml", ".env", "www"})


def seen(**kw: object) -> Observed:
    base: dict[str, object] = {
        "target": B, "head": A, "deployed": A, "unsure": False, "used": USED}
    base.update(kw)
    return Observed(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("observed", "actions"), [
    # first ever deploy: nothing known to be running
    # (down first: `up -d` alone would keep containers of an older image running)
    (seen(deployed=None, head=B, unsure=True), (PU, BU, DO, UP)),
    (seen(deployed=None, head=A, unsure=True), (CH, PU, BU, DO, UP)),
    # unsure what runs (a deploy was cut, a bring-back failed): make sure it is up
    (seen(deployed=B, head=B, unsure=True), (UP,)),
    # steady state
    (seen(deployed=B, head=B), ()),
    # the working tree drifted from what is deployed (an interrupted deploy): put it back
    (seen(deployed=B, head=A), (CH,)),
    # a change to something the project uses: rebuild and restart
    (seen(changed=frozenset({"www/index.html"})), (CH, PU, BU, DO, UP)),
    (seen(changed=frozenset({"compose.yaml"})), (CH, PU, BU, DO, UP)),
    (seen(changed=frozenset({".env", "README.md"})), (CH, PU, BU, DO, UP)),
    # ... down first when the build reads a path the running containers may write
    (seen(changed=frozenset({"compose.yaml"}), exposed=("data/key",)), (CH, DO, PU, BU, UP)),
    # exposure alone (no change to the project) restarts nothing
    (seen(changed=frozenset({"README.md"}), exposed=("data/key",)), (CH,)),
    # the target broke: not again (the roll-back put the tree back), or not yet (backoff)
    (seen(changed=frozenset({"compose.yaml"}), held="broke"), ()),
    (seen(deployed=None, head=B, held="backing off", unsure=True), ()),
    # ... unless it is what runs after all
    (seen(deployed=B, head=B, held="broke"), ()),
    (seen(deployed=B, head=B, held="broke", unsure=True), (UP,)),
    # a change to nothing the project uses: move the tree, leave containers alone
    (seen(changed=frozenset({"README.md"})), (CH,)),
    (seen(changed=frozenset({"ssh/alice.pub", "docs/x.md"})), (CH,)),
    (seen(changed=frozenset({"wwwx/index.html"})), (CH,)),
    # ... but when unsure what runs, also make sure it is up
    (seen(changed=frozenset({"README.md"}), unsure=True), (CH, UP)),
    # a policy violation changes nothing, whatever else is true
    (seen(violations=("port 80",), changed=frozenset({"compose.yaml"})), (Action.REJECT,)),
    (seen(violations=("port 80",), deployed=None, unsure=True), (Action.REJECT,)),
])
def test_plan(observed: Observed, actions: tuple[Action, ...]) -> None:
    assert plan(observed).actions == actions


RUNTIME = frozenset({"compose.yaml", ".env", "conf"})  # used: also the build context "."


@pytest.mark.parametrize(("changed", "actions", "conditional"), [
    # build inputs alone: build, then down and up only if an image changed (no pull)
    ({"README.md"}, (CH, BU, DO, UP), True),
    ({"ssh/alice.pub", "src/main.c"}, (CH, BU, DO, UP), True),
    # anything containers are made of directly: the full redeploy
    ({"README.md", "compose.yaml"}, (CH, PU, BU, DO, UP), False),
    ({"conf/nginx.conf"}, (CH, PU, BU, DO, UP), False),
    ({".env"}, (CH, PU, BU, DO, UP), False),
])
def test_build_inputs_alone_restart_only_if_an_image_changed(
        changed: set[str], actions: tuple[Action, ...], conditional: bool) -> None:
    decided = plan(seen(used=RUNTIME | {"."}, runtime=RUNTIME, changed=frozenset(changed)))
    assert (decided.actions, decided.if_image_changed) == (actions, conditional)


def test_build_inputs_the_running_version_may_write_go_down_first() -> None:
    decided = plan(seen(used=RUNTIME | {"."}, runtime=RUNTIME, exposed=("data/x",),
                        changed=frozenset({"README.md"})))
    assert (decided.actions, decided.if_image_changed) == ((CH, DO, PU, BU, UP), False)


def test_reason_names_the_changed_paths() -> None:
    decided = plan(seen(changed=frozenset({"www/index.html", "README.md"})))
    assert "www/index.html" in decided.reason
    assert "README.md" not in decided.reason


def test_rejection_reason_names_the_violation() -> None:
    decided = plan(seen(violations=("compose service 'web': host port 80 is outside",)))
    assert "host port 80" in decided.reason
    assert not decided.restarts


def test_whole_repository_used() -> None:
    decided = plan(seen(used=frozenset({"."}), changed=frozenset({"anything/at/all"})))
    assert decided.restarts


def test_down_first_reason_names_the_exposed_path() -> None:
    decided = plan(seen(changed=frozenset({"compose.yaml"}), exposed=("data/key", "data/x")))
    assert decided.reason.endswith("; down first: data/key is in a writable mount of the "
                                   "running version")


def test_a_held_target_says_why() -> None:
    decided = plan(seen(changed=frozenset({"compose.yaml"}), held="it broke: retry in 5m"))
    assert decided.reason == "it broke: retry in 5m" and not decided.actions
