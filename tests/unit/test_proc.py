"""Account: which gid and groups a service's processes get (reads this machine's users)."""

from __future__ import annotations

import grp
import pwd

from pgo.proc import Account


def test_no_group_means_primary_gid_and_no_supplementary_groups() -> None:
    account = Account.lookup("root")
    assert (account.gid, account.share_gid, account.extra_groups) == (0, None, [])


def test_primary_group_named_explicitly_adds_nothing() -> None:
    primary = grp.getgrgid(pwd.getpwnam("root").pw_gid).gr_name
    assert Account.lookup("root", primary).extra_groups == []


def test_other_group_is_supplementary_and_gid_stays_primary() -> None:
    """rootless podman's newuidmap refuses a gid other than the passwd one."""
    other = grp.getgrnam("daemon").gr_gid
    account = Account.lookup("root", "daemon")
    assert account.gid == pwd.getpwnam("root").pw_gid
    assert account.share_gid == other and account.extra_groups == [other]
