"""Pastes the last measured bench output into the docs, so no figure there is hand-edited.

A docs file marks a block with `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
(NAME a bench module, e.g. bench_heap); everything between the markers is
replaced by build/bench/NAME.txt (what that module printed) in a fenced block,
with the file's date. A block whose output does not exist yet is left as it is.
Run by `make bench` after the benches and by `make docs` on its own.
"""
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(<!-- bench:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)


def _body(out_dir: Path, name: str) -> str | None:
    src = out_dir / f"{name}.txt"
    if not src.is_file():
        return None
    stamp = time.strftime("%Y-%m-%d", time.gmtime(src.stat().st_mtime))
    with open(src, encoding="utf-8", newline="") as f:  # as printed, line ends untouched
        text = f.read().rstrip("\n")
    return f"Measured {stamp} by `make bench` ({name}):\n\n```text\n{text}\n```\n"


def render_text(text: str, out_dir: Path) -> str:
    """text with every bench block whose output exists replaced by that output."""

    def sub(m: re.Match) -> str:
        body = _body(out_dir, m.group("name"))
        return m.group(0) if body is None else m.group(1) + body + m.group(4)

    return _BLOCK.sub(sub, text)


def render(out_dir: Path, docs: list[Path] = DOCS) -> list[Path]:
    """Re-render every docs file's bench blocks; the files that changed."""
    changed = []
    for path in docs:
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", newline="") as f:
            old = f.read()
        new = render_text(old, out_dir)
        if new != old:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "bench"
    for p in render(out):
        print(f"docs updated: {p.relative_to(ROOT)}")
