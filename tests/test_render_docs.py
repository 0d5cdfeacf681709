"""The docs' measured blocks are pasted from the bench output, never hand-edited."""
from hypothesis import given, settings, strategies as st

from bench import render_docs

prose = st.text(st.characters(blacklist_characters="<"), max_size=200)


def test_a_block_takes_the_last_bench_output(tmp_path):
    (tmp_path / "bench_heap.txt").write_text("heap growth day 2 -> day 7: 0 B\n")
    doc = "intro\n<!-- bench:bench_heap -->\nold figure 63.9 KB\n<!-- /bench:bench_heap -->\nafter\n"
    out = render_docs.render_text(doc, tmp_path)
    assert "old figure" not in out
    assert "heap growth day 2 -> day 7: 0 B" in out
    assert out.startswith("intro\n<!-- bench:bench_heap -->\n") and out.endswith("<!-- /bench:bench_heap -->\nafter\n")


def test_a_block_without_output_is_left_alone(tmp_path):
    doc = "<!-- bench:bench_mqtt -->\nkept\n<!-- /bench:bench_mqtt -->\n"
    assert render_docs.render_text(doc, tmp_path) == doc


@settings(deadline=None)  # files written and read: no wall-clock limit on a loaded machine
@given(before=prose, after=prose, measured=prose)
def test_rendering_keeps_the_prose_and_is_idempotent(tmp_path_factory, before, after, measured):
    out_dir = tmp_path_factory.mktemp("bench")
    with open(out_dir / "bench_x.txt", "w", encoding="utf-8", newline="") as f:
        f.write(measured)
    doc = f"{before}\n<!-- bench:bench_x -->\nstale\n<!-- /bench:bench_x -->\n{after}"
    once = render_docs.render_text(doc, out_dir)
    assert once.startswith(before + "\n") and once.endswith(after)
    assert measured.rstrip("\n") in once
    assert render_docs.render_text(once, out_dir) == once


def test_render_rewrites_only_files_that_change(tmp_path):
    (tmp_path / "bench_x.txt").write_text("42 ticks/s\n")
    stale = tmp_path / "a.md"
    stale.write_text("<!-- bench:bench_x -->\n1 tick/s\n<!-- /bench:bench_x -->\n")
    plain = tmp_path / "b.md"
    plain.write_text("no blocks here\n")
    assert render_docs.render(tmp_path, [stale, plain]) == [stale]
    assert "42 ticks/s" in stale.read_text()
    assert render_docs.render(tmp_path, [stale, plain]) == []


def test_fleet_summary_for_the_readme_reads_the_last_runs_json(tmp_path):
    """The README's fleet lines come from the bench's JSON (default run and largest scale run),
    so a figure there is the one measured, with its date."""
    import json
    from bench.bench_fleet_ingest import write_summary
    night = {"run": "PostgreSQL, 4 workers, 6 edges, chaos", "posts": 100000, "wall_s": 2500.4,
             "faults": 4106, "one_order": 4105, "lost": 0, "twice": 0, "orders_dup": 0, "kills": 50,
             "broker_restarts": 1, "wall_p50_s": 40.25, "wall_p99_s": None}
    (tmp_path / "fleet_scale_20000.json").write_text(json.dumps(
        {"hours": 0.5, "edges": 2, "nights": [dict(night, posts=20000, one_order=812, faults=812)]}))
    (tmp_path / "fleet_scale_100000.json").write_text(json.dumps({"hours": 0.5, "edges": 6, "nights": [night]}))
    text = write_summary(tmp_path)
    assert (tmp_path / "bench_fleet_summary.txt").read_text() == text
    [line] = text.splitlines()  # only the largest scale run; no default run on record
    assert line.startswith("dusk of 100000 posts (")
    assert "4105/4106 faults one order, lost 0, stored twice 0, orders duplicated 0, kills 50" in line
    assert "p50/p99 40.2/- s" in line or "p50/p99 40.3/- s" in line  # None: no order gave one
    (tmp_path / "fleet_ingest.json").write_text(json.dumps({
        "ingest": [{"subscriber": "bare paho (ceiling)", "msg_s": 5000, "ratio": 1.0},
                   {"subscriber": "4 worker(s) -> PostgreSQL", "msg_s": 1800, "ratio": 0.36}],
        "nights": [dict(night, posts=200, run="SQLite, 1 worker", one_order=9, faults=10, lost=1)]}))
    lines = write_summary(tmp_path).splitlines()
    assert lines[0].endswith("4 workers 1800 msg/s (0.36) of a bare subscriber's 5000 msg/s")
    assert "night of 200 posts, SQLite, 1 worker: 9/10 faults one order, lost 1" in lines[1]
