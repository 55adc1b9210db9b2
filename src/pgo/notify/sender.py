"""Sending: a worker thread with a bounded queue, one Apprise send per URL.

`Notifications.watch` is a service.Watch: it runs on the event loop and only queues; the
thread does the network I/O. A full queue drops the message (logged); a URL that cannot be
reached is logged (in Apprise's private form, without its secrets) and skipped.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Mapping

import apprise

from pgo import state
from pgo.notify import messages, urls
from pgo.notify.messages import Message
from pgo.state import Record

log = logging.getLogger("pgo.notify")

QUEUE = 100  # messages waiting to be sent; more are dropped


class Notifications:
    """Messages for each service's URLs (`targets`: service -> URLs), sent in a thread."""

    def __init__(self, targets: Mapping[str, tuple[str, ...]], host: str | None = None) -> None:
        self.targets: dict[str, tuple[str, ...]] = {}
        self.retarget(targets)
        self.host = host or socket.gethostname()
        self.sent = 0  # sends that worked (for tests and metrics to read)
        self.failed = 0
        urls.load_plugins()  # (here, not in the thread)
        self._queue: queue.Queue[tuple[tuple[str, ...], Message] | None] = queue.Queue(QUEUE)
        self._thread = threading.Thread(target=self._work, name="notify", daemon=True)
        self._thread.start()

    def retarget(self, targets: Mapping[str, tuple[str, ...]]) -> None:
        """Each service's URLs from now on (a config applied in place); none: not told."""
        self.targets = {name: tuple(found) for name, found in targets.items() if found}

    def watch(self, before: Record, event: state.Event, after: Record) -> None:
        found = self.targets.get(after.service)
        if not found:
            return
        message = messages.message_for(before, event, after)
        if message is None:
            return
        try:
            self._queue.put_nowait((found, message))
        except queue.Full:
            log.warning("%s: notification dropped (%d waiting): %s %s", message.service,
                        QUEUE, message.commit, message.outcome)

    def close(self, timeout: float) -> None:
        """Send what is queued, for up to `timeout` seconds (blocks: call in a thread)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            found, message = item
            for url in found:
                self._send(url, message)

    def _send(self, url: str, message: Message) -> None:
        failure = apprise.NotifyType.FAILURE if message.failure else apprise.NotifyType.SUCCESS
        try:
            notifier = apprise.Apprise()
            notifier.add(url)
            ok = notifier.notify(body=messages.body(message, self.host),
                                 title=messages.title(message, self.host),
                                 notify_type=failure)
        except Exception as err:  # a plugin's bug must not end the thread
            log.error("%s: notifying %s failed: %s", message.service, urls.shown(url),
                      type(err).__name__)
            ok = False
        if ok:
            self.sent += 1
            log.info("%s: notified %s: %s %s", message.service, urls.shown(url),
                     message.commit, message.outcome)
        else:
            self.failed += 1
            log.warning("%s: notifying %s failed (see apprise's warning above); %s %s not "
                        "sent", message.service, urls.shown(url), message.commit,
                        message.outcome)
