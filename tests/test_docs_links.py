"""Every relative link in README.md and docs/*.md leads somewhere (issue 12): the file exists
(relative to the file the link is in, as GitHub resolves it) and a `#fragment` names a heading
of the target as GitHub's anchors spell it. A reference moved into docs/ keeps its links."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[(?:[^\]\\]|\\.)*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"`[^`]*`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation out, spaces -> '-'."""
    h = re.sub(r"[`*]|<[^>]+>", "", heading.strip()).lower()
    h = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", h).replace(" ", "-")


def _prose(text: str):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence is None:
            yield i, line


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose(path.read_text(encoding="utf-8")):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")  # GitHub numbers a repeated heading
    return out


def broken(files: list[Path]) -> list[str]:
    found = []
    cache: dict[Path, set[str]] = {}
    for f in files:
        for i, line in _prose(f.read_text(encoding="utf-8")):
            for m in _LINK.finditer(_CODE.sub("", line)):
                target = m.group(1)
                if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
                    continue
                path, _, frag = target.partition("#")
                dest = (f.parent / path).resolve() if path else f.resolve()
                where = f"{f.relative_to(ROOT)}:{i}: {target}"
                if not dest.exists():
                    found.append(f"{where}: no such file")
                elif frag and dest.suffix == ".md":
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if frag not in cache[dest]:
                        found.append(f"{where}: no heading with that anchor")
    return found


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    assert broken(FILES) == []


def test_the_checker_finds_a_wrong_path_and_a_wrong_anchor(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Title\n\n## The `heap`, measured\n\n```\n# not a heading\n```\n")
    b = docs / "b.md"
    b.write_text("[ok](a.md#the-heap-measured) [ok](#b) [ok](https://x.y/z)\n\n# B\n\n"
                 "[bad](docs/a.md) [bad](a.md#not-a-heading) `[code](nowhere.md)`\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        out = broken([b])
    finally:
        ROOT = old
    assert out == ["docs/b.md:5: docs/a.md: no such file",
                   "docs/b.md:5: a.md#not-a-heading: no heading with that anchor"]
