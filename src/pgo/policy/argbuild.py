"""`podman build`, `pull`, `network create`, `volume create`, `pod create`, and the
read-only queries and starts podman-compose runs around them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pgo.policy import podmanopts as opts
from pgo.policy.arguments import check_image
from pgo.policy.buildurls import check_build_url, is_remote_url
from pgo.policy.podmanargs import Scope, check_options, decrypted, inside, parse

# dockerfile_inline: the NamedTemporaryFile podman-compose writes (the service user has no TMPDIR)
_INLINE_DOCKERFILE = re.compile(r"/tmp/tmp[A-Za-z0-9_]+\.containerfile\Z")  # noqa: S108
_IMAGE_CONTEXTS = ("docker-image://", "container-image://")
_CONDITIONS = ("running", "healthy", "unhealthy", "stopped", "exited")


def check_build(args: list[str], scope: Scope) -> Iterator[str]:
    table = opts.table(opts.BUILD)
    parsed = parse(args, table)
    yield from check_options(parsed, table)
    if parsed.problems:
        return  # the rest is unread
    for name, value in parsed.options:
        yield from _build_value(name, value, scope)
    if len(parsed.positionals) != 1:
        yield f"arguments {parsed.positionals!r}: podman build takes one context"
    else:
        yield from _context("context", parsed.positionals[0], scope)


def _build_value(name: str, value: str, scope: Scope) -> Iterator[str]:
    if name in ("-f", "--file") and not _INLINE_DOCKERFILE.match(value):
        why = inside(value, scope.workdir)
        if why:
            yield f"argument -f {value!r}: {why}"
    elif name in ("-t", "--tag"):
        for tag in opts.split_like_podman(value) or []:
            yield from (f"argument -t {value!r}: {m}" for m in check_image(tag, "tag"))
    elif name == "--build-context":
        context_name, _, where = value.partition("=")
        if not opts.NAME.match(context_name):
            yield f"argument --build-context {value!r}: {context_name!r} is not a name"
        elif not where.startswith(_IMAGE_CONTEXTS):
            yield from _context("--build-context", where, scope)
    elif name == "--secret":
        fields = dict(f.partition("=")[::2] for f in value.split(","))
        if set(fields) - {"id", "src", "env", "type"} or '"' in value:
            yield f"argument --secret {value!r}: only id, src, env and type are admitted"
        elif "src" in fields and not decrypted(fields["src"], scope.secrets) and \
                (why := inside(fields["src"], scope.workdir)):
            yield f"argument --secret {value!r}: {why}"


def _context(key: str, where: str, scope: Scope) -> Iterator[str]:
    """A URL (with its allowance) or a path in the checkout (podman resolves a relative one
    in its working directory, the checkout's top)."""
    if is_remote_url(where) and not where.startswith("-"):
        yield from (f"argument {m}" for m in check_build_url(key, where, scope.build_urls))
    elif why := inside(where, scope.workdir):
        yield f"argument {key} {where!r}: {why}"


def check_pull(args: list[str], scope: Scope) -> Iterator[str]:
    table = opts.table(opts.PULL)
    parsed = parse(args, table)
    yield from check_options(parsed, table)
    if parsed.problems:
        return  # the rest is unread
    if len(parsed.positionals) != 1:
        yield f"arguments {parsed.positionals!r}: podman pull takes one image"
    else:
        yield from check_image(parsed.positionals[0])


def _named(options: tuple[opts.Option, ...], what: str) -> Callable[
        [list[str], Scope], Iterator[str]]:
    def check(args: list[str], scope: Scope) -> Iterator[str]:
        table = opts.table(options)
        parsed = parse(args, table)
        yield from check_options(parsed, table)
        if parsed.problems:
            return
        if what == "volume":
            yield from _volume_opts(parsed.options, scope)
        if len(parsed.positionals) != (0 if what == "pod" else 1) or not all(
                opts.NAME.match(p) for p in parsed.positionals):
            yield f"arguments {parsed.positionals!r}: podman {what} create takes one plain " \
                  "name" if what != "pod" else "podman pod create takes no arguments"
    return check


def _volume_opts(options: list[tuple[str, str]], scope: Scope) -> Iterator[str]:
    for name, value in options:
        if name not in ("-o", "--opt"):
            continue
        key, _, item = value.partition("=")
        if key == "type" and item not in ("none", "tmpfs"):
            yield f"argument --opt {value!r}: only type none or tmpfs"
        elif key == "device" and (why := inside(item, scope.workdir)):
            yield f"argument --opt {value!r}: {why}"
        elif key not in ("type", "device", "o"):
            yield f"argument --opt {value!r}: only type, o and device are admitted"


def _query(shape: Callable[[list[str], Scope], bool], what: str) -> Callable[
        [list[str], Scope], Iterator[str]]:
    def check(args: list[str], scope: Scope) -> Iterator[str]:
        if not shape(args, scope):
            yield f"arguments {args!r}: not the {what} podman-compose runs"
    return check


def _ours(args: list[str], scope: Scope, kind: str = "container") -> bool:
    return bool(args) and all(a in scope.made.get(kind, ()) for a in args)


OTHER_CHECKERS: dict[str, Callable[[list[str], Scope], Iterator[str]]] = {
    "build": check_build, "pull": check_pull,
    "network create": _named(opts.NETWORK_CREATE, "network"),
    "volume create": _named(opts.VOLUME_CREATE, "volume"),
    "pod create": _named(opts.POD_CREATE, "pod"),
    "network exists": _query(lambda a, s: len(a) == 1 and bool(opts.NAME.match(a[0])),
                             "network query"),
    "volume inspect": _query(lambda a, s: len(a) == 1 and bool(opts.NAME.match(a[0])),
                             "volume query"),
    "pod exists": _query(lambda a, s: len(a) == 1 and bool(opts.NAME.match(a[0])),
                         "pod query"),
    "ps": _query(lambda a, s: len(a) == 5 and a[0] == "--filter" and a[1].startswith(
        "label=io.podman.compose.project=") and a[2:] == ["-a", "--format", "json"], "ps"),
    "inspect": _query(lambda a, s: a[:4] == ["-t", "image", "-f", "{{.Id}}"] and len(a) == 5
                      and not a[4].startswith("-"), "image query"),
    "start": _query(_ours, "start of the project's containers"),
    "wait": _query(lambda a, s: bool(a) and a[0].removeprefix("--condition=") in _CONDITIONS
                   and _ours([x for x in a[1:] if x != "--ignore"], s), "wait"),
}
