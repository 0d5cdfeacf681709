"""Runs every benchmark module (bench/bench_*.py) or the ones named on the command line.

Each module has `main(out_dir: Path) -> None`: it prints a table with ratios and
writes its machine-readable results as JSON into out_dir (build/bench/).
"""
import importlib
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "build" / "bench"


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    names = argv or sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main(OUT)
    print(f"results in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
