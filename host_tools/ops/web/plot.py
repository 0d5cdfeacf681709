"""A time series as an inline SVG line chart, drawn on the server: the post page needs three
small plots, which a few dozen lines of SVG show without shipping a charting library."""
from __future__ import annotations

from html import escape

from host_tools.ops.engine import iso

W, H, PAD = 640, 160, 36


def svg_series(ts: list[int], vs: list[float | None], label: str) -> str:
    pts = [(t, v) for t, v in zip(ts, vs) if v is not None]
    if len(pts) < 2:
        return f'<p class="empty">{escape(label)}: no readings yet</p>'
    t0, t1 = pts[0][0], pts[-1][0]
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    sx = (W - 2 * PAD) / max(1, t1 - t0)
    sy = (H - 2 * PAD) / (hi - lo)
    path = " ".join(f"{PAD + (t - t0) * sx:.1f},{H - PAD - (v - lo) * sy:.1f}" for t, v in pts)
    return (f'<svg class="plot" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}">'
            f'<text x="{PAD}" y="14">{escape(label)}</text>'
            f'<text x="4" y="{PAD + 4}" class="ax">{hi:.4g}</text>'
            f'<text x="4" y="{H - PAD}" class="ax">{lo:.4g}</text>'
            f'<text x="{PAD}" y="{H - 8}" class="ax">{iso(t0)}</text>'
            f'<text x="{W - PAD}" y="{H - 8}" class="ax" text-anchor="end">{iso(t1)}</text>'
            f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" class="frame"/>'
            f'<polyline points="{path}" class="line"/></svg>')
