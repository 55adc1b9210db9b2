"""Services removed from the config: at start, their compose project is taken down (as the
user in their record; only the containers labelled with the project pgod created, never
another container of that user), named volumes are kept, and the checkout and the record
are moved aside under DIR/.pgod/removed/NAME-TIME/."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection

from pgo import proc, registries, secretfiles, statestore
from pgo.compose import DEFAULT_TIMEOUT
from pgo.errors import PgoError
from pgo.proc import Account

log = logging.getLogger("pgo.removal")

PROJECT_LABEL = "io.podman.compose.project"


async def remove_unconfigured(state_dir: str, directory: str, configured: Collection[str],
                              as_root: bool = True, secrets_root: str = secretfiles.RUN_DIR,
                              ) -> list[str]:
    """Take down and move aside every service with a record but no config; their names."""
    removed = []
    for name in statestore.names(state_dir):
        if name in configured:
            continue
        try:
            await _remove(state_dir, directory, name, as_root)
            if secretfiles.remove(secretfiles.directory(secrets_root, name)):
                log.info("%s: its decrypted files are removed", name)
        except (PgoError, OSError) as err:  # logged; the next start tries again
            log.error("%s: removed from the config, but taking it down or moving it aside "
                      "failed (the next start tries again): %s", name, err)
            continue
        removed.append(name)
    return removed


async def _remove(state_dir: str, directory: str, name: str, as_root: bool) -> None:
    try:
        record = statestore.load(state_dir, name)
    except statestore.Unreadable as err:
        raise PgoError(f"its record cannot be read ({err}), so its user is unknown") from None
    if record is None:
        return
    try:
        account = Account.lookup(record.user) if as_root else Account.current()
    except KeyError:
        log.warning("%s: removed from the config; its user %s no longer exists, so its "
                    "containers are gone with it", name, record.user)
    else:
        await take_down(name, account)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = os.path.join(state_dir, "removed", f"{name}-{stamp}")
    os.makedirs(aside, mode=0o700, exist_ok=True)
    checkout = os.path.join(directory, name)
    if os.path.isdir(checkout) and not os.path.islink(checkout):
        os.rename(checkout, os.path.join(aside, name))
    os.rename(statestore.record_path(state_dir, name), os.path.join(aside, name + ".json"))
    registries.remove(directory, name)  # (its registry logins: not kept aside)
    log.warning("%s: removed from the config: its project is down (named volumes kept); "
                "checkout and record moved to %s", name, aside)


async def take_down(name: str, account: Account) -> None:
    """Remove the containers labelled as compose project `name` (and its pod), as `account`."""
    listed = await proc.run(["podman", "ps", "-a", "--filter", f"label={PROJECT_LABEL}={name}",
                             "--format", "{{.ID}}"], account, account.home,
                            timeout=DEFAULT_TIMEOUT)
    ids = listed.output.split()
    if ids:
        await proc.run(["podman", "rm", "-f", "-t", "10", "--", *ids], account, account.home,
                       timeout=DEFAULT_TIMEOUT)
    await proc.run(["podman", "pod", "rm", "-f", "--ignore", "--", f"pod_{name}"], account,
                   account.home, timeout=DEFAULT_TIMEOUT, check=False)
    log.info("%s: %d container(s) of project %s removed as %s", name, len(ids), name,
             account.user)
