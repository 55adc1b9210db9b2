"""pgod's lifecycle: startup, the per-service loops, signals, a bounded shutdown.

SIGINT/SIGTERM: exit 0 and leave every container running. SIGHUP: exit 2, so systemd
restarts us with the new config. With `watch_config`, a changed config file means SIGHUP.
A new config commit (`config_repo`) is applied in place: only the services it adds,
removes or changes are touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace

import asyncssh

from pgo import lagprobe, secretfiles, systemd
from pgo.compose import Jobs, check_podman_compose, find_podman_compose
from pgo.config import Config, ServiceConfig, config_from_text
from pgo.configchange import config_change, here
from pgo.configrepo import ConfigRepo
from pgo.git import system_config_text
from pgo.http import server as http
from pgo.http import statuspage, webhook
from pgo.http.metrics import Metrics
from pgo.keys import OperatorKey
from pgo.looks import Looks
from pgo.notify.sender import Notifications
from pgo.penalties import Penalties
from pgo.probes import checks_for
from pgo.proc import Account, watch_children
from pgo.proxy.caddy import CaddySettings, Router
from pgo.refpool import RefPool
from pgo.removal import remove_unconfigured
from pgo.service import Checks, ServiceRunner, Watch
from pgo.sshcommands import Sessions
from pgo.sshserver import (
    COMPRESSION_ALGS,
    ENCRYPTION_ALGS,
    KEX_ALGS,
    LOGIN_TIMEOUT,
    MAC_ALGS,
    SIGNATURE_ALGS,
    KeyServer,
)
from pgo.statedir import check_private, digest, open_host_key, write_public
from pgo.status import ServiceLog

log = logging.getLogger("pgo.daemon")

EXIT_OK, EXIT_ERROR, EXIT_HUP = 0, 1, 2
CONFIG_POLL = 1.0
STOP_GRACE = 60.0  # seconds a stop waits for deploys that have taken a service down
NOTIFY_GRACE = 10.0  # seconds a stop waits for queued notifications to go out
GIT_CONFIG = ".pgod-gitconfig"  # in DIR (0711): readable by the service users
LOOK_FRESH = 0.25  # of the interval: how old a shared look at a user's containers may be
DEFAULT_JOBS = 2 * (os.cpu_count() or 1)  # podman-compose runs at once (-j)


@dataclass(frozen=True)
class Settings:
    """Everything pgod was told on its command line, after validation."""

    config: Config
    directory: str
    interval: float
    ssh_host: str
    ssh_port: int
    watch_config: bool = False
    as_root: bool = True  # False (--root=false): every service runs as the invoking user
    http: tuple[str, int] | None = None  # -m: the HTTP listener's address; None: none
    webhook: tuple[str, int] | None = None  # -w: /hook's (the -m listener's, if the same)
    hosts: frozenset[str] | None = None  # --hosts: this machine's names; None: any machine
    config_repo: ConfigRepo | None = None  # -c git+URL#PATH: followed every interval
    age_identity: str = secretfiles.IDENTITY  # decrypts the repositories' .age files
    caddy: CaddySettings | None = None  # --caddy: the routes' snippet and how to reload
    jobs: int = DEFAULT_JOBS  # -j: podman-compose runs (pull, build, down, up) at once


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = os.path.join(settings.directory, ".pgod")
        self.runners: dict[str, ServiceRunner] = {}
        self.compose_exe = ""
        self._stop = asyncio.Event()
        self.exit_code = EXIT_OK
        self.elsewhere: dict[str, tuple[str, ...]] = {}  # configured for other machines
        self.penalties = Penalties()  # its counters are for a metrics module to read
        # each told of every record change of every service (see service.Watch)
        self.watchers: list[Watch] = []
        self.routes = http.Routes()  # what the -m listener serves; parts add theirs at startup
        self.http: http.Listener | None = None
        self.hooks = http.Routes()  # -w's, when it is a listener of its own
        self.webhook: http.Listener | None = None
        # each told of every SSH session's command line and exit status
        self.sessions_ended: list[Callable[[str, int], None]] = []
        self.systemd = systemd.StatusLine(systemd.Notifier.from_env())  # sd_notify(3)
        self.notifications: Notifications | None = None  # the config's notify URLs
        self.router: Router | None = None  # --caddy: keeps Caddy's routes in step
        self.metrics: Metrics | None = None
        self.tasks: dict[str, asyncio.Task[None]] = {}  # each runner's run_forever
        self._jobs = Jobs(settings.jobs)  # podman-compose runs at once, shared by every service
        self._looks = Looks(self._jobs, settings.interval * LOOK_FRESH)
        self.refs = RefPool()  # a ref worker per service user: git:// heads without git

    def stop(self, code: int) -> None:
        if not self._stop.is_set():
            self.exit_code = code
            self._stop.set()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        watch_children(loop)  # (no thread per command started)
        for signum, code in ((signal.SIGINT, EXIT_OK), (signal.SIGTERM, EXIT_OK),
                             (signal.SIGHUP, EXIT_HUP)):
            loop.add_signal_handler(signum, self._on_signal, signum, code)
        # -d: the event loop's stalls, each logged; their count and the longest at the end
        probe = lagprobe.Probe()
        probing = [asyncio.create_task(probe.run(), name="lag probe")] \
            if log.isEnabledFor(logging.DEBUG) else []
        self._startup()
        await check_podman_compose(self.compose_exe)
        await remove_unconfigured(self.state_dir, self.settings.directory, self.runners,
                                  self.settings.as_root)
        if self.router is not None:  # what the records say now (a removed service: gone)
            self.router.update()
        listener = await self._listen()
        if self.settings.http is not None:
            self.http = await http.start(self.routes, *self.settings.http)
        if self.settings.webhook not in (None, self.settings.http):
            self.webhook = await http.start(self.hooks, *self.settings.webhook)
        watchdog = self._ready()
        # A full collection traced start-up's objects (89 ms of CPU in one SSH read, 50
        # clients): frozen, never traced again.
        gc.freeze()
        tasks = [*probing, *self._start_all()]
        await self._stop.wait()
        self.systemd.stopping()
        listener.close()  # (open connections stay: their new commands are refused)
        for listening in (self.http, self.webhook):
            if listening is not None:
                await listening.close()
        for runner in self.runners.values():
            runner.stopping = True
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        await _cancel_all([*tasks, *self.tasks.values()])
        await self._let_commands_finish(deadline)
        await self.refs.close()
        if watchdog is not None:  # (pinging through the stop: it may take STOP_GRACE)
            await _cancel_all([watchdog])
        if self.notifications is not None:  # what is queued, briefly
            await asyncio.to_thread(self.notifications.close, NOTIFY_GRACE)
        if self.router is not None:  # (a write or reload under way finishes first)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.router.idle(), 10)
        log.debug("%s", probe.stalls.summary())
        log.info("stopped (exit %d); containers keep running", self.exit_code)
        return self.exit_code

    def _start_all(self) -> list[asyncio.Task[None]]:
        """Every service's loop (in self.tasks), and the config's follower: its task."""
        for name in self.runners:
            self._start(name)
        if self.settings.config_repo is not None:
            return [asyncio.create_task(self._follow_config(self.settings.config_repo),
                                        name="config repository")]
        if self.settings.watch_config:
            return [asyncio.create_task(self._watch_config(), name="config watch")]
        return []

    def _ready(self) -> asyncio.Task[None] | None:
        """Tell systemd we are ready (config loaded, listeners up); start the watchdog's
        pings if the unit asks for them."""
        self.systemd.ready({name: runner.record for name, runner in self.runners.items()})
        interval = systemd.watchdog_interval(os.environ, os.getpid())
        if interval is None or not self.systemd.notifier.active:
            return None
        log.info("systemd watchdog: pinging every %.1fs", interval)
        return asyncio.create_task(systemd.watchdog(self.systemd.notifier, interval),
                                   name="systemd watchdog")

    async def _let_commands_finish(self, deadline: float) -> None:
        """Wait (until `deadline`) for SSH commands holding a service's lock, such as an
        `up` an operator started: killed halfway, it could leave the service down."""
        loop = asyncio.get_running_loop()
        busy = sorted(name for name, runner in self.runners.items() if runner.lock.locked())
        if busy:
            log.info("waiting for commands on %s to finish", ", ".join(busy))
        while busy and loop.time() < deadline:
            await asyncio.sleep(0.1)
            busy = [name for name, runner in self.runners.items() if runner.lock.locked()]
        if busy:
            log.warning("stopping with commands still running on %s", ", ".join(busy))

    async def _listen(self) -> asyncssh.SSHAcceptor:
        """Serve SSH on the configured address, on this event loop."""
        host_key = open_host_key(self.settings.directory)
        repo = self.settings.config_repo
        sessions = Sessions(self.runners, self.elsewhere, self.sessions_ended,
                            notes=lambda: repo.problem if repo is not None else None)
        host, port = self.settings.ssh_host, self.settings.ssh_port
        listener = await asyncssh.create_server(
            lambda: KeyServer(self.keys, self.penalties), host or None, port,
            server_host_keys=[host_key], process_factory=sessions.handle,
            encoding="utf-8", line_editor=False, allow_pty=False, agent_forwarding=False,
            x11_forwarding=False, password_auth=False, kbdint_auth=False,
            gss_host=None, host_based_auth=False,
            login_timeout=LOGIN_TIMEOUT, sftp_factory=None, allow_scp=False,
            kex_algs=KEX_ALGS, encryption_algs=ENCRYPTION_ALGS, mac_algs=MAC_ALGS,
            compression_algs=COMPRESSION_ALGS, signature_algs=SIGNATURE_ALGS)
        log.info("SSH listening on %s:%d, host key %s", host or "*",
                 listener.get_port(), host_key.get_fingerprint())
        return listener

    def keys(self) -> dict[str, tuple[OperatorKey, ...]]:
        return {name: runner.keys for name, runner in self.runners.items()}

    def _on_signal(self, signum: int, code: int) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop(code)

    def _startup(self) -> None:
        statuspage.register(self.routes, self.runners)  # / and /status.json, read per request
        if self.settings.webhook is not None:
            webhook.register(self.routes if self.settings.webhook == self.settings.http
                             else self.hooks, self.runners)
        os.makedirs(self.settings.directory, mode=0o711, exist_ok=True)
        mode = check_private(self.settings.directory)
        # service users must pass through to their checkouts (and list nothing)
        os.chmod(self.settings.directory, mode & 0o7777 | 0o111)  # noqa: S103
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.compose_exe = find_podman_compose()
        self._write_git_config()
        log.info("using %s; checkouts under %s; at most %d podman-compose run(s) at once",
                 self.compose_exe, self.settings.directory, self.settings.jobs)
        self.watchers.append(self.systemd.watch)
        if self.settings.caddy is not None:
            self._route(self.settings.caddy)
        services = here(self.settings.config, self.settings.hosts)
        self._set_elsewhere()
        self._add_metrics(list(services))
        self._set_notify_targets()
        for service in services.values():
            self.runners[service.name] = self._runner(service)

    @property
    def git_config(self) -> str:
        return os.path.join(self.settings.directory, GIT_CONFIG)

    def _write_git_config(self) -> None:
        write_public(self.git_config, system_config_text(
            [s.repository for s in self.settings.config.services]))

    def _set_elsewhere(self) -> None:
        """The services the config puts on other machines (SSH answers "runs on ...")."""
        self.elsewhere.clear()  # (in place: Sessions holds it)
        self.elsewhere.update({s.name: s.machines for s in self.settings.config.services
                               if not s.runs_on(self.settings.hosts)})
        if self.elsewhere:
            log.info("%d service(s) run on other machines, not on %s: %s", len(self.elsewhere),
                     ", ".join(sorted(self.settings.hosts or ())), ", ".join(self.elsewhere))

    def _set_notify_targets(self) -> None:
        targets = {s.name: s.notify for s in here(self.settings.config,
                                                   self.settings.hosts).values()}
        if self.notifications is not None:
            self.notifications.retarget(targets)
        elif any(targets.values()):
            self.notifications = Notifications(targets)
            self.watchers.append(self.notifications.watch)

    def _runner(self, service: ServiceConfig) -> ServiceRunner:
        account = (Account.lookup(service.user, service.group) if self.settings.as_root
                   else Account.current())

        def checks(config: ServiceConfig, service_log: ServiceLog) -> Checks:
            return checks_for(config, service_log, self._looks)
        return ServiceRunner(
            service, account, self.settings.directory, self.state_dir, self.compose_exe,
            self.settings.interval, checks, self.git_config, watchers=self.watchers,
            age_identity=self.settings.age_identity, jobs=self._jobs, refs=self.refs)

    def _start(self, name: str) -> None:
        self.tasks[name] = asyncio.create_task(self.runners[name].run_forever(),
                                               name=f"service {name}")

    async def apply_config(self, config: Config) -> None:
        """A new config, in place: the services it removes or changes are stopped (a
        deploy past its down finishes first, an SSH command holding the lock too), the
        removed ones taken down as at a start; the changed and added ones start as they
        would at a start of pgod. Every other service, its loop and containers, stays."""
        change = config_change(self.settings.config, config, self.settings.hosts)
        self.settings = replace(self.settings, config=config)
        self._write_git_config()
        self._set_elsewhere()
        self._set_notify_targets()
        if self.router is not None:
            self.router.services = config.services
        for name in (*change.removed, *change.changed):
            await self._retire(name)
        services = here(config, self.settings.hosts)
        await remove_unconfigured(self.state_dir, self.settings.directory, services,
                                  self.settings.as_root)
        for name in (*change.changed, *change.added):
            self.runners[name] = self._runner(services[name])
            self._start(name)
        self.systemd.keep(self.runners)
        if self.metrics is not None:
            self.metrics.observer.add(change.added)
        if self.router is not None:
            self.router.update()
        log.info("config %s applied in place: %s", config.path, change.describe())

    async def _retire(self, name: str) -> None:
        """Stop the service's loop (and let a command holding its lock end), then forget
        its runner."""
        runner = self.runners[name]
        await _cancel_all([self.tasks.pop(name)])
        async with runner.lock:
            runner.stopping = True  # (SSH sessions still holding it are refused)
        del self.runners[name]

    def _route(self, caddy: CaddySettings) -> None:
        """--caddy: a watcher keeps the snippet (and Caddy) in step with the records."""
        self.router = Router(caddy, self.settings.config.services,
                             lambda: {n: r.record for n, r in self.runners.items()})
        self.watchers.append(self.router.watch)
        log.info("Caddy routes in %s, loaded with: %s", caddy.snippet,
                 " ".join(caddy.reload) or '(nothing: --caddy-reload "")')

    async def _follow_config(self, repo: ConfigRepo) -> None:
        """A new valid config commit is applied in place (see apply_config)."""
        def load(text: str, path: str) -> Config:
            return config_from_text(text, path, check_accounts=self.settings.as_root,
                                    hosts=self.settings.hosts)
        async def apply(config: Config) -> None:
            try:
                await self.apply_config(config)
            except Exception:  # half applied: a restart applies it whole (HEAD is there)
                log.exception("applying the new config in place failed; restarting (exit 2)")
                self.stop(EXIT_HUP)
        await repo.follow(self.settings.interval, lambda: self.settings.config, load, apply)

    def _add_metrics(self, services: list[str]) -> None:
        """GET /metrics, and what it counts told of every record change and SSH session of
        `services` (those this machine runs)."""
        metrics = self.metrics = Metrics(services, self.runners, self.penalties,
                                         lambda: KeyServer.unauthenticated)
        self.watchers.append(metrics.observer.watch)
        self.sessions_ended.append(metrics.observer.session_ended)
        self.routes.get("/metrics", metrics.handle)

    async def _watch_config(self) -> None:
        path = self.settings.config.path
        first = digest(path)
        while True:
            await asyncio.sleep(CONFIG_POLL)
            if digest(path) != first:
                log.info("config %s changed, sending SIGHUP to ourselves", path)
                os.kill(os.getpid(), signal.SIGHUP)
                return


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel every task (each kills its running child's process group) and wait, bounded:
    a deploy past its down finishes first (see ServiceRunner), within STOP_GRACE."""
    for task in tasks:
        task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), STOP_GRACE)
