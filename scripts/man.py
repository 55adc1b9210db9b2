"""Turn docs/*.md (pandoc-style man page Markdown, the small subset we use) into roff.

    python scripts/man.py docs/pgod.8.md > pgod.8

Handles: the YAML title block, `#` sections, paragraphs, `**bold**`, `*italic*`,
definition lists (a term line, then `:   text` and indented continuation lines), `- `
bullet lists (continued by lines indented two spaces) and indented code blocks.
tests/unit/test_docs.py checks the committed pages are current.
"""

from __future__ import annotations

import re
import sys


def inline(text: str) -> str:
    text = text.replace("\\", "\\e").replace("\\e*", "*").replace("-", "\\-")
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w\\])\*(.+?)\*(?!\w)", r"\\fI\1\\fR", text)
    return text.replace("`", "")


def convert(markdown: str) -> str:
    head, _, body = markdown.partition("\n---\n")
    meta = dict(re.findall(r"^(\w+): (.*)$", head, re.M))
    out = [f'.TH {meta["title"]} {meta["section"]} "" "{meta.get("footer", "")}" '
           f'"{meta.get("header", "")}"']
    lines, i = body.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            out.append(f".SH {line[2:].strip()}")
        elif line.startswith("    ") and (not out or out[-1] in (".PP", ".nf") or
                                          lines[i - 1].strip() == ""):
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:].replace("\\", "\\e").replace("-", "\\-"))
                i += 1
            out += [".PP", ".nf", ".RS 4", *[b.rstrip() for b in block if True], ".RE", ".fi"]
            continue
        elif line.startswith("- "):
            out += [".IP \\(bu 2", inline(line[2:])]
        elif line.startswith("  ") and not line.startswith("    ") and out[-1] != ".PP":
            out.append(inline(line.strip()))
        elif i + 1 < len(lines) and lines[i + 1].startswith(":   "):
            out += [".TP", inline(line)]
        elif line.startswith(":   ") or (line.startswith("    ") and out[-1] != ".PP"):
            out.append(inline(line.strip().removeprefix(":").strip()))
        elif not line.strip():
            out.append(".PP")
        else:
            out.append(inline(line))
        i += 1
    text = "\n".join(out)
    return re.sub(r"(\.PP\n)+", ".PP\n", text).replace(".PP\n.SH", ".SH") + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        sys.stdout.write(convert(handle.read()))
