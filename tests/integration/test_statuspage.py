"""The status page on a real pgod (-m on loopback) with a real deployed service, loaded in
headless Chromium; /status.json read with urllib against what `status --json` says over SSH.
The screenshot is kept in $PGO_ARTIFACTS (default artifacts/ at the repository's root)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from .helpers import REPO_ROOT, free_port, wait_for_http
from .pgod_process import Pgod
from .sshclients import keygen
from .test_trust import Service, files

HOSTILE = '<script>document.title="owned"</script> & <b>bold</b>'
PNG = b"\x89PNG\r\n\x1a\n"


class Text(HTMLParser):
    """The text of a DOM as Chromium serialized it, and its elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text, self.tags = "", []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium (root needs --no-sandbox), its own profile under the test's tmp."""
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180,
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def get(url: str, method: str = "GET") -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        assert reply.status == 200
        return dict(reply.headers), reply.read()


def artifacts() -> Path:
    path = Path(os.environ.get("PGO_ARTIFACTS") or REPO_ROOT / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_the_page_shows_a_refused_commit_in_a_real_browser(
        workdir: Path, tmp_path: Path, make_user: Any, make_repo: Any) -> None:
    user, port, key, http = make_user(), free_port(), keygen(workdir, "op"), free_port()
    svc = Service(workdir, user, make_repo(files(port, "good", key)), port, key)
    svc.pgod = Pgod(svc.config, workdir / "lib", "-s", f"127.0.0.1:{svc.ssh_port}",
                    "-m", f"127.0.0.1:{http}")
    svc.pgod.start()
    try:
        wait_for_http(port, "good")
        svc.pgod.wait_log("operator key(s)")
        good = svc.wait_state("ok")["deployed"]
        bad = svc.repo.commit(files(port, "bad", key, "privileged: true"), HOSTILE)
        refused = svc.until("refused, the containers seen",
                            lambda s: s["state"] == "refused" and bool(s["containers"]))
        assert refused["upstream"] == bad and "privileged" in refused["reason"]
        url = f"http://127.0.0.1:{http}/"

        dom = chromium(tmp_path / "profile", "--dump-dom", url).stdout
        page = Text(dom)
        for shown in ("svc", "refused", refused["reason"], good[:12], bad[:12],
                      "svc_web_1", "running", HOSTILE, "as of "):
            assert shown in page.text, (shown, page.text[:4000])
        assert "script" not in page.tags and "b" not in page.tags  # the subject is text
        shot = artifacts() / "statuspage.png"
        shot.unlink(missing_ok=True)
        chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,900", url)
        assert shot.stat().st_size > 1000 and shot.read_bytes()[:8] == PNG

        headers, body = get(url + "status.json")
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        document = json.loads(body)
        assert list(document) == ["svc"]
        ours, status = document["svc"], svc.status()
        for key_ in ("service", "repository", "branch", "state", "since", "reason", "deployed",
                     "last_good", "upstream", "broken", "frozen", "stopped", "last_attempt"):
            assert ours[key_] == status[key_], key_
        assert ours["deployed"] == good and ours["upstream"] == bad
        assert ours["deployed_subject"] == "first"
        assert ours["last_attempt"]["subject"] == HOSTILE
        assert [c["name"] for c in ours["containers"]] == ["svc_web_1"]
        assert ours["containers_at"] is not None and ours["history"][0]["commit"] == bad
        head, nothing = get(url, "HEAD")
        assert nothing == b"" and head["Content-Type"].startswith("text/html")
    finally:
        svc.pgod.stop()
