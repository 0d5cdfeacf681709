"""Runs every benchmark module (bench/bench_*.py) or the ones named on the command line.

Each module has `main(out_dir: Path) -> None`: it prints a table with ratios and
writes its machine-readable results as JSON into out_dir (build/bench/). What a
module prints is also kept as build/bench/<module>.txt, and the docs' bench
blocks are re-rendered from those files afterwards (bench/render_docs.py), so a
figure in docs/ is always the last one measured.
"""
import importlib
import io
import sys
from pathlib import Path

from bench import render_docs

OUT = Path(__file__).resolve().parent.parent / "build" / "bench"


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy, so the printed table is also the docs' table."""

    def __init__(self, out):
        self.out, self.kept = out, io.StringIO()

    def write(self, s):
        self.out.write(s)
        self.kept.write(s)
        return len(s)

    def flush(self):
        self.out.flush()


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    names = argv or sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    for name in names:
        print(f"== {name}", flush=True)
        tee, real = _Tee(sys.stdout), sys.stdout
        sys.stdout = tee
        try:
            mod = importlib.import_module(f"bench.{name}")
            mod.main(OUT)
        finally:
            sys.stdout = real
        # a module may name its output otherwise (a scaled-up run has its own docs block)
        (OUT / f"{getattr(mod, 'TXT', name)}.txt").write_text(tee.kept.getvalue())
    print(f"results in {OUT}")
    for path in render_docs.render(OUT):
        print(f"docs updated: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
