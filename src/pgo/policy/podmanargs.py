"""Reading podman argv as podman's flag parser does, and what every argument check
shares: the scope of one service and whether a host path is inside its checkout."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pgo.policy import podmanopts as opts
from pgo.ports import PortRange


@dataclass(frozen=True)
class Scope:
    """What one service's commands may reach."""

    workdir: str                      # the checkout, absolute
    ports: Sequence[PortRange] = ()
    build_urls: Sequence[str] = ()
    made: Mapping[str, frozenset[str]] = field(default_factory=dict)  # kind -> names
    secrets: str | None = None        # the directory of pgod's decrypted files


@dataclass
class Parsed:
    options: list[tuple[str, str]] = field(default_factory=list)  # (as written, value)
    positionals: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(args: Sequence[str], table: Mapping[str, opts.Option]) -> Parsed:
    """Options up to the first positional (podman create stops there: the rest is the
    command), as podman's flag parser reads them: `--opt=VALUE` or `--opt VALUE`."""
    out, i = Parsed(), 0
    while i < len(args):
        word = args[i]
        if word == "--" or not word.startswith("-") or word == "-":
            out.positionals = list(args[i + (word == "--"):])
            break
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        option = table.get(name)
        if option is None or (eq and not option.value):
            out.problems.append(f"argument {word!r}: not an option pgod admits here")
            return out  # what follows cannot be read without knowing this option
        if option.value and not eq:
            if i + 1 == len(args):
                out.problems.append(f"argument {word!r}: its value is missing")
                return out
            i, value = i + 1, args[i + 1]
        out.options.append((name, value))
        i += 1
    return out


def check_options(parsed: Parsed, table: Mapping[str, opts.Option]) -> Iterator[str]:
    """Each option's value, split as podman splits it, each part checked."""
    yield from parsed.problems
    for name, value in parsed.options:
        option = table[name]
        if not option.value:
            continue
        parts = opts.split_like_podman(value) if option.splits else [value]
        if parts is None:
            yield f"argument {name} {value!r}: a quote or a line break in a value podman " \
                  "reads as CSV; pgod does not guess how podman splits it"
            continue
        for part in parts:
            why = option.check(part) if option.check else None
            if why:
                shown = f" (part {part!r})" if len(parts) > 1 else ""
                yield f"argument {name} {value!r}{shown}: {why}"


def decrypted(path: str, secrets: str | None) -> bool:
    """Whether `path` is a file directly in `secrets`, the service's directory of
    decrypted files (as podman-compose's realpath leaves it: no symlink on the way)."""
    head, _, name = path.rpartition("/")
    return bool(secrets) and head == secrets and name not in ("", ".", "..")


def inside(path: str, workdir: str, *, base: str | None = None) -> str | None:
    """Why a host path is not one a container may have (None: it is in the checkout)."""
    full = posixpath.normpath(posixpath.join(base or workdir, path))
    top = posixpath.normpath(workdir)
    if full != top and not full.startswith(top + "/"):
        return f"{full!r} is outside the checkout {top}"
    if full == top + "/.git" or full.startswith(top + "/.git/"):
        return f"{full!r} is in .git, which pgod's git commands read"
    return None
