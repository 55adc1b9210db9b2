"""Reading a commit's compose project with real git (no podman): what the policy sees is
the whole file at that commit, never a cut or a redirected one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pgo.config import ServiceConfig
from pgo.errors import CommandFailed
from pgo.git import Checkout
from pgo.ports import parse_port_range
from pgo.proc import Account
from pgo.project import ProjectAt, read_project

from .helpers import Repo

SERVICE = ServiceConfig(name="web", user="root", repository="unused",
                        ports=(parse_port_range("8080"),))
COMPOSE = "services:\n  web:\n    image: busybox\n    ports: ['8080:80']\n"


def cloned(repo: Repo, into: Path) -> Checkout:
    into.mkdir()
    checkout = Checkout(str(into), repo.url, "main", Account.current())
    asyncio.run(checkout.clone())
    return checkout


def project_at_head(checkout: Checkout) -> ProjectAt:
    async def read() -> ProjectAt:
        return await read_project(checkout, SERVICE, await checkout.head(), {})
    return asyncio.run(read())


def test_a_plain_project_passes(workdir: Path, make_repo) -> None:
    project = project_at_head(cloned(make_repo({"compose.yaml": COMPOSE}), workdir / "c"))
    assert project.problems == () and project.file == "compose.yaml"


def test_a_huge_compose_file_is_refused_not_cut(workdir: Path, make_repo) -> None:
    """A forbidden key followed by megabytes of comments: a reader that keeps only the tail
    of git's output would check the harmless end and pass it."""
    padded = "include: [evil.yaml]\n" + "#" * 100 + ("\n" + "#" * 99) * 25_000 + "\n" + COMPOSE
    project = project_at_head(cloned(make_repo({"compose.yaml": padded}), workdir / "c"))
    assert project.model is None
    assert any("larger than 1024 KiB" in p for p in project.problems), project.problems


def test_data_larger_than_the_limit_is_an_error(workdir: Path, make_repo) -> None:
    checkout = cloned(make_repo({"big.txt": "x" * (17 * 1024 * 1024)}), workdir / "c")

    async def read() -> str | None:
        return await checkout.read(await checkout.head(), "big.txt")
    with pytest.raises(CommandFailed, match="more than 16777216 bytes"):
        asyncio.run(read())


def test_symlinks_lists_every_symlink_in_the_tree(workdir: Path, make_repo) -> None:
    repo = make_repo({"compose.yaml": COMPOSE, "sub/keep.txt": "x"})
    (repo.work / "data").symlink_to("/root")
    (repo.work / "sub" / "up").symlink_to("..")
    repo.commit({}, "links")
    checkout = cloned(repo, workdir / "c")

    async def links() -> frozenset[str]:
        return await checkout.symlinks(await checkout.head())
    assert asyncio.run(links()) == {"data", "sub/up"}


def test_a_mount_through_a_committed_symlink_is_refused(workdir: Path, make_repo) -> None:
    """`data -> /root` committed, `./data:/x` mounted: podman would mount root's home."""
    repo = make_repo({"compose.yaml": COMPOSE + "    volumes: ['./data/keys:/x:ro']\n"})
    (repo.work / "data").symlink_to("/root")
    repo.commit({}, "a symlink")
    project = project_at_head(cloned(repo, workdir / "c"))
    assert project.problems == ("compose service 'web': volumes './data/keys' goes through "
                                "'data', a symlink in the repository that could point "
                                "anywhere on the host; commit the files themselves",)


def test_podman_settings_in_dotenv_are_refused(workdir: Path, make_repo) -> None:
    files = {"compose.yaml": COMPOSE, ".env": "PORT=1\nPODMAN_USERNS=host\n"}
    project = project_at_head(cloned(make_repo(files), workdir / "c"))
    assert project.model is None
    assert project.problems[0].startswith(".env: PODMAN_USERNS: podman-compose copies")


def test_a_writable_mount_of_the_repository_is_refused(workdir: Path, make_repo) -> None:
    """The container could rewrite .git/config or the compose file on the host."""
    repo = make_repo({"compose.yaml": COMPOSE + "    volumes: ['.:/w']\n"})
    project = project_at_head(cloned(repo, workdir / "c"))
    assert len(project.problems) == 1 and "mounts the whole repository writable" in \
        project.problems[0]
    read_only = make_repo({"compose.yaml": COMPOSE + "    volumes: ['.:/w:ro']\n"})
    assert project_at_head(cloned(read_only, workdir / "d")).problems == ()


@pytest.mark.parametrize("attributes", ["compose.yaml ident\n", "* text eol=crlf\n",
                                        "*.yaml working-tree-encoding=UTF-16LE\n"])
def test_git_attributes_that_rewrite_the_compose_file_are_caught(
        workdir: Path, make_repo, attributes: str) -> None:
    """git rewrites these files on checkout: `$Id$` expands, LF becomes CRLF, the text is
    re-encoded. podman-compose would read bytes the policy never saw."""
    text = "# $Id$\n" + COMPOSE  # git stores UTF-8 and checks out the encoding named
    written = text.encode("utf-16-le") if "encoding" in attributes else text
    repo = make_repo({"compose.yaml": written, ".gitattributes": attributes})
    checkout = cloned(repo, workdir / "c")
    project = project_at_head(checkout)
    assert project.problems == ()  # the committed bytes are fine ...
    problems = project.worktree_problems(checkout.path)  # ... the checked-out ones are not
    assert len(problems) == 1 and problems[0].startswith(
        "compose.yaml in the working tree differs from the commit"), problems


def test_harmless_git_attributes_and_a_clean_tree_pass(workdir: Path, make_repo) -> None:
    files = {"compose.yaml": COMPOSE + "    volumes: ['./data/www:/www:ro']\n",
             ".env": "X=1\n", "data/www/index.html": "hi\n",
             ".gitattributes": "* text=auto\n*.png binary\n*.md linguist-documentation\n"}
    checkout = cloned(make_repo(files), workdir / "c")
    project = project_at_head(checkout)
    assert dict(project.blobs).keys() == {"compose.yaml", ".env"}
    assert project.worktree_problems(checkout.path) == []
    Path(checkout.path, ".env").write_text("X=2\n")  # what a checked file changed looks like
    assert project.worktree_problems(checkout.path) == [
        ".env in the working tree differs from the commit (a .gitattributes rule such as eol, "
        "ident, filter or working-tree-encoding?); pgod runs only the bytes it checked"]


def test_an_untracked_symlink_survives_reset_and_is_caught(workdir: Path, make_repo) -> None:
    """What a container with `./data` mounted writable can leave behind: `git reset --hard`
    keeps untracked files, and the policy (reading git objects) cannot see it."""
    repo = make_repo({"compose.yaml": COMPOSE + "    volumes: ['./data:/data']\n"})
    checkout = cloned(repo, workdir / "c")
    Path(checkout.path, "data").mkdir()
    Path(checkout.path, "data", "host").symlink_to("/")
    later = repo.commit({"compose.yaml": COMPOSE + "    volumes: ['./data/host/etc:/e:ro']\n"},
                        "mount a path under the old writable mount")

    async def move() -> ProjectAt:
        await checkout.fetch()
        await checkout.reset(later)
        return await read_project(checkout, SERVICE, later, {})
    project = asyncio.run(move())
    assert project.problems == ()
    assert Path(checkout.path, "data", "host").is_symlink()
    assert project.worktree_problems(checkout.path) == [
        "'./data/host/etc' goes through 'data/host', a symlink that is not in the commit (left "
        "by a container in a writable mount?), which podman would follow on the host; "
        "remove it"]


def test_the_worktree_check_resolves_additional_contexts_from_the_top(workdir: Path,
                                                                      make_repo) -> None:
    """podman resolves `--build-context` paths in podman-compose's working directory (the
    checkout's top), so that is where a planted symlink matters, whatever the compose
    file's directory."""
    compose = ("services:\n  web:\n    image: localhost/web\n    build:\n      context: .\n"
               "      additional_contexts: {extra: ctx/link/sub}\n")
    repo = make_repo({"deploy/compose.yaml": compose, "deploy/Containerfile": "FROM scratch\n",
                      "ctx/keep": ""})
    checkout = cloned(repo, workdir / "c")
    Path(checkout.path, "ctx", "link").symlink_to("/")
    service = ServiceConfig(name="web", user="root", repository="unused",
                            compose="deploy/compose.yaml")

    async def read() -> ProjectAt:
        return await read_project(checkout, service, await checkout.head(), {})
    project = asyncio.run(read())
    assert project.problems == ()
    assert [p.split(",")[0] for p in project.worktree_problems(checkout.path)] == [
        "'ctx/link/sub' goes through 'ctx/link'"]


def test_paths_in_writable_mounts_of_the_running_version_are_exposed(workdir: Path,
                                                                      make_repo) -> None:
    """The running version mounts ./data writable; the next one reads a build secret and an
    env file there (and mounts ./www read-only, which is not under it)."""
    running = COMPOSE + "    volumes: ['./data:/data']\n"
    repo = make_repo({"compose.yaml": running})
    checkout = cloned(repo, workdir / "c")
    first = project_at_head(checkout)
    target = ("services:\n  web:\n    image: localhost/web\n    ports: ['8080:80']\n"
              "    build: {context: app, secrets: [key]}\n    env_file: data/web.env\n"
              "    volumes: ['./www:/www:ro']\nsecrets:\n  key: {file: ./data/key}\n")
    later = repo.commit({"compose.yaml": target, "app/Containerfile": "FROM scratch\n"},
                        "read what the running containers can write")

    async def read() -> ProjectAt:
        await checkout.fetch()
        return await read_project(checkout, SERVICE, later, {})
    second = asyncio.run(read())
    assert second.problems == ()
    assert second.exposed_to(first) == ["data/key", "data/web.env"]
    assert first.exposed_to(second) == []  # the new version mounts nothing writable


def test_a_dotenv_the_commit_does_not_have_is_caught(workdir: Path, make_repo) -> None:
    """podman-compose reads .env beside the compose file and at the top whenever they exist:
    one a container left there would set variables the policy never saw."""
    checkout = cloned(make_repo({"compose.yaml": COMPOSE}), workdir / "c")
    project = project_at_head(checkout)
    assert dict(project.blobs)[".env"] == ""
    assert project.worktree_problems(checkout.path) == []
    Path(checkout.path, ".env").write_text("PORT=80\n")
    assert project.worktree_problems(checkout.path) == [
        ".env is in the working tree but not in the commit (left by a container?); "
        "podman-compose would read it; remove it"]


def test_a_shape_podman_compose_reads_otherwise_is_refused_at_the_commit(
        workdir: Path, make_repo) -> None:
    """read_project judges the canonical model, and refuses a shape it cannot make canonical
    (a mapping podman-compose iterates: its key '/:/host' would be a bind of the host's /)."""
    text = COMPOSE + "    volumes: {'/:/host': null}\n"
    project = project_at_head(cloned(make_repo({"compose.yaml": text}), workdir / "c"))
    assert project.problems == ("compose service 'web': key 'volumes': a mapping ({'/:/host': "
                                "None}) is not a shape pgod reads the way podman-compose does "
                                "(podman-compose iterates over it: a mapping's keys, a "
                                "string's characters); write a list of strings or mappings",)


def test_invalid_utf8_is_refused_naming_the_file(workdir: Path, make_repo) -> None:
    files: dict[str, str | bytes] = {"compose.yaml": COMPOSE, ".env": b"A=\xff\n"}
    project = project_at_head(cloned(make_repo(files), workdir / "c"))
    assert project.model is None
    assert project.problems == (".env: line 1: bytes that are not valid UTF-8 (b'\\xff' at "
                                "byte 2); pgod checks only what podman-compose reads the same "
                                "way: save the file as UTF-8",)
