"""podman-compose started ahead of its turn. Standalone.

pgod runs this file's text with the Python of podman-compose's own script, as the service
user, in the checkout (`python -I -c SOURCE -f FILE -p NAME COMMAND...`) while a deploy's
step before it still runs: importing podman-compose costs some 0.2 s of CPU per run, and
a deploy runs three (the argument layer's dry run, down, up). Then it waits for one line on
stdin: `go` runs podman-compose 1.6.0's own `main` with those arguments, exactly as its
script would (stdin /dev/null, as pgod gives every podman-compose); anything else, or the
end of stdin, exits 0 having done nothing (the deploy stopped before this step).

Imports nothing from pgo: the service user may not be able to read pgo's files.
"""

from __future__ import annotations

import os
import sys

import podman_compose


def main(argv: list[str]) -> None:
    if sys.stdin.buffer.readline() != b"go\n":
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # As PYTHONUNBUFFERED would (-I ignores it): each line reaches pgod as it is written.
    sys.stdout.reconfigure(write_through=True)  # type: ignore[union-attr]
    sys.argv = ["podman-compose", *argv]
    podman_compose.main()


if __name__ == "__main__":
    main(sys.argv[1:])
