import pytest

from pgo.gate import all_gone, scrub


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("fetch https://user:secret@host/x failed", "fetch https://host/x failed"),
    ("DB_PASSWORD=hunter2 next", "DB_PASSWORD=*** next"),
    ("db passwd: hunter2", "db passwd: ***"),
    ('{"api_key": "k-123"}', '{"api_key": ***}'),
    ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
    ("SECRET_KEY_BASE=abcd; next", "SECRET_KEY_BASE=***; next"),
    ("GET /?token=xyz&page=1", "GET /?token=***&page=1"),
    ("AWS_ACCESS_KEY_ID=AKIA1 AWS_SECRET_ACCESS_KEY=s3", "AWS_ACCESS_KEY_ID=*** "
     "AWS_SECRET_ACCESS_KEY=***"),
    ("author: Joe", "author: Joe"),
    ("the password is wrong", "the password is wrong"),
    ("exited with code 3", "exited with code 3"),
])
def test_scrub(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


@pytest.mark.parametrize(("errors", "gone"), [
    # podman 4.3.1, two names both removed by a `down` after they were listed
    ("error inspecting object: no such container a\n"
     "Error: inspecting object: no such container b\n", True),
    ("Error: inspecting object: no such container a\n", True),
    ("", False),  # failed without saying why: not known to be gone
    ("Error: inspecting object: no such container a\n"
     "Error: database is locked\n", False),
    ("Error: cannot open the storage\n", False),
])
def test_only_containers_gone_since_the_listing_mean_none(errors: str, gone: bool) -> None:
    assert all_gone(errors) is gone
