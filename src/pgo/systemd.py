"""What pgod tells systemd (sd_notify(3)) when the unit says `Type=notify`.

Datagrams of `KEY=VALUE` lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or
an abstract name written with a leading `@`); without that variable every call is a
no-op. READY=1 once the listeners are up, STATUS= a one-line summary of the services'
states whenever it changes (a watcher of every record, `StatusLine`), STOPPING=1 when a
stop begins and WATCHDOG=1 every half of $WATCHDOG_USEC from a task on the event loop,
so a loop that blocks misses its pings and systemd restarts pgod. RELOADING=1 is never
sent: SIGHUP makes pgod exit 2 and systemd start a new one, there is no reload in place.

Sending never blocks and never fails: a full or vanished socket costs a log line.
Children never see $NOTIFY_SOCKET (pgo.proc gives them a clean environment), so no
conmon can speak for pgod.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
from collections.abc import Collection, Mapping

from pgo import state
from pgo.state import Record, State

log = logging.getLogger("pgo.systemd")


class Notifier:
    """sd_notify to one socket; `address` None: nothing is sent."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def active(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` (such as "READY=1", "STATUS=...") as one datagram; whether it went."""
        if self.address is None:
            return False
        message = "\n".join(field.replace("\n", " ") for field in fields).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message, socket_address(self.address))
        except OSError as err:  # BlockingIOError (a full queue) included: never wait
            log.warning("cannot notify systemd at %s: %s", self.address, err)
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def socket_address(address: str) -> str | bytes:
    """$NOTIFY_SOCKET as sendto takes it: `@name` is the abstract socket "\\0name"."""
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, or None when the unit set
    no WatchdogSec= (or $WATCHDOG_PID names another process, or the value is no number)."""
    usec, for_pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if for_pid and for_pid != str(pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


async def watchdog(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 every `interval` seconds, from the event loop, until cancelled."""
    while True:
        notifier.send("WATCHDOG=1")
        await asyncio.sleep(interval)


def summary(states: Mapping[str, State]) -> str:
    """ "5 services: 4 ok, 1 broken": how many services are in each state (in the order of
    `State`), or "no services". Pure."""
    if not states:
        return "no services"
    counts = collections.Counter(states.values())
    parts = [f"{counts[s]} {s.value}" for s in State if counts[s]]
    noun = "service" if len(states) == 1 else "services"
    return f"{len(states)} {noun}: {', '.join(parts)}"


class StatusLine:
    """A watcher (service.Watch) that keeps each service's state and sends STATUS= when the
    summary changes; nothing before `ready` (systemd shows the last STATUS it got)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.states: dict[str, State] = {}
        self.sent: str | None = None
        self._ready = False

    def watch(self, before: Record, event: state.Event, after: Record) -> None:
        self.states[after.service] = after.state
        if self._ready:
            self._send()

    def ready(self, records: Mapping[str, Record]) -> None:
        """READY=1 with the first STATUS=: the config is loaded and the listeners are up."""
        for name, record in records.items():
            self.states.setdefault(name, record.state)
        self._ready = True
        self.sent = summary(self.states)
        self.notifier.send("READY=1", f"STATUS={self.sent}")

    def keep(self, names: Collection[str]) -> None:
        """Only these services from now on (a config applied in place removed the others)."""
        self.states = {n: s for n, s in self.states.items() if n in names}
        if self._ready:
            self._send()

    def stopping(self) -> None:
        self._ready = False
        self.notifier.send("STOPPING=1", f"STATUS=stopping; {summary(self.states)}")

    def _send(self) -> None:
        line = summary(self.states)
        if line != self.sent:
            self.sent = line
            self.notifier.send(f"STATUS={line}")
