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
