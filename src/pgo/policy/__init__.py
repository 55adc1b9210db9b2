"""The policy a compose project must meet before pgod runs it. Pure checks, in two layers:
the model layer (`check_policy`, on the compose model in podman-compose's own shapes,
`shapes`) and the argument layer (`argv.check_calls`, on the podman command lines
podman-compose works out for it, see pgo.dryrun).

An allowlist: every top-level key, service key, mount, network, volume and secret field must
be one podman-compose 1.6.0 reads and pgod knows to be safe; anything else is refused, named
with its compose service. What a project may do:

- publish host ports only within the service's ranges (none without ranges), never on a
  random host port (`publishall`), never around the check (`network_mode: host`, `ns:`,
  `container:`, `pasta:OPTIONS`, networks with a driver other than bridge or named `host`,
  `x-podman.pod_args`, `x-podman.in_pod` naming a pod);
- read and mount host paths only inside the repository: not absolute, `~` or `..`, not
  through a committed symlink, not `.git`; a writable bind mount may not be the repository
  itself nor contain another host path of the project (the compose file, `.env`, env files,
  build contexts, Dockerfiles, secrets, other bind sources): the container could rewrite
  them or swap them for symlinks that podman-compose then follows on the host;
- a build of its own or one inherited with `extends`, never the two merged;
- mounts of type bind, volume or tmpfs only, with no `,` or `:` smuggled into the fields
  podman-compose joins into `--mount`/`-v` arguments;
- no host devices, added capabilities, privileged mode, OCI runtime or init path, host PID or
  user namespaces, seccomp/AppArmor/SELinux changes, log files, SSH agents or keys for builds,
  OCI annotations or `--pod`: each of those reaches past the container.
"""

from pgo.policy.check import Violation, check_policy

__all__ = ["Violation", "check_policy"]
