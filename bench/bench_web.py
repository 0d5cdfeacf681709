"""The console's fleet map with 1,000 and 100,000 posts: server time of the map's data
request, and in headless Chromium the time from navigation to the first drawn frame.

The posts are inserted straight into a SQLite database (coordinates to 6 decimals, ~0.1 m,
as a register holds them; 1 % with a raised alarm, half lit),
the console runs as `lamppost-ops serve` runs it (uvicorn in a thread), the browser is
Debian's /usr/bin/chromium through Playwright. Ratios: 100,000 against 1,000 posts, and each
first render against a 3 s ceiling (a map an operator still calls usable to open).
"""
from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import insert

from host_tools.ops import config, db, schema
from host_tools.ops.engine import Engine
from host_tools.ops.web import accounts
from host_tools.ops.web.app import Settings, create_app
from host_tools.ops.web.server import ConsoleServer

SIZES = (1_000, 100_000)
CEILING_S = 3.0
PASSWORD = "bench-password-1"


def _fleet(path: Path, n: int):
    eng = db.open_db(str(path))
    rnd = random.Random(n)
    with eng.begin() as c:
        c.execute(insert(schema.municipalities).values(id="bench", name="Bench"))
        rows = [{"id": f"B-{i:06d}", "municipality": "bench", "street": f"Street {i // 40}",
                 "cabinet": f"K{i // 200}", "lat": round(52.0 + rnd.random() * 0.3, 6), "lon": round(5.0 + rnd.random() * 0.5, 6),
                 "imported_at": 0.0, "last_seen_at": time.time(), "lwt": "Online"} for i in range(n)]
        for k in range(0, n, 5000):
            c.execute(insert(schema.posts), rows[k:k + 5000])
        c.execute(insert(schema.post_state), [{"post_id": r["id"], "lamp": "on" if i % 2 else "off",
                                               "lamp_t": 0} for i, r in enumerate(rows)])
        c.execute(insert(schema.alarms), [{"post_id": r["id"], "alarm": "lampFailure", "raised": True,
                                           "since_t": 0, "handled": False} for r in rows[::100]])
    accounts.add_user(eng, "bench", PASSWORD, "viewer", "bench")
    return eng, accounts.new_token(eng, "bench")


def _server_ms(url: str, token: str, runs: int) -> tuple[float, float, int]:
    """Median wall time of the map's data request, and the CPU time this process spent on it
    (server thread and client: the figure a shared, busy machine does not inflate)."""
    times, cpu, size = [], [], 0
    for _ in range(runs):
        req = urllib.request.Request(url + "/api/v1/fleet", headers={"Authorization": f"Bearer {token}"})
        t0, c0 = time.perf_counter(), time.process_time()
        with urllib.request.urlopen(req, timeout=300) as r:
            body = r.read()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        size = len(body)
    return 1e3 * statistics.median(times), 1e3 * statistics.median(cpu), size


def _browser_ms(browser, url: str, n: int, runs: int) -> tuple[float, float]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=url)
    ctx.set_default_timeout(300_000)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/map")
    first, fetched = [], []
    for _ in range(runs):
        page.goto("/map")
        page.wait_for_function(f"document.getElementById('map').dataset.rendered === '{n}'")
        first.append(page.evaluate("window.lamppostMap.renderedAt"))
        fetched.append(page.evaluate("window.lamppostMap.fetchedAt"))
    ctx.close()
    return statistics.median(first), statistics.median(fetched)


def main(out: Path) -> None:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        print("bench_web: needs Chromium (apt-get install chromium; .ci/run installs it): not measured")
        return
    rows = []
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as d, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            for n in SIZES:
                eng, token = _fleet(Path(d) / f"fleet{n}.sqlite", n)
                srv = ConsoleServer(create_app(Engine(eng, config.parse({})), Settings())).start()
                try:
                    runs = 5 if n <= 10_000 else 3
                    server_ms, cpu_ms, size = _server_ms(srv.url, token, runs)
                    first_ms, fetched_ms = _browser_ms(browser, srv.url, n, runs)
                finally:
                    srv.stop()
                    eng.dispose()
                rows.append({"posts": n, "server_ms": server_ms, "server_cpu_ms": cpu_ms, "bytes": size,
                             "browser_data_ms": fetched_ms, "first_render_ms": first_ms})
        finally:
            browser.close()
    print(f"{'posts':>8} {'server (data)':>14} {'its CPU':>9} {'response':>10} {'browser: data in':>17} "
          f"{'first render':>13} {'vs 3 s ceiling':>15}")
    for r in rows:
        print(f"{r['posts']:>8,} {r['server_ms']:>11.0f} ms {r['server_cpu_ms']:>6.0f} ms "
              f"{r['bytes'] / 1e6:>7.2f} MB "
              f"{r['browser_data_ms']:>14.0f} ms {r['first_render_ms']:>10.0f} ms "
              f"{r['first_render_ms'] / 1e3 / CEILING_S:>14.2f}x")
    a, b = rows[0], rows[-1]
    print(f"{b['posts'] // a['posts']}x the posts: server {b['server_ms'] / a['server_ms']:.1f}x "
          f"(CPU {b['server_cpu_ms'] / max(a['server_cpu_ms'], 1e-3):.1f}x), "
          f"first render {b['first_render_ms'] / a['first_render_ms']:.1f}x "
          "(browser times from navigation start, median of the runs; Chromium headless, 2 cores)")
    (out / "web.json").write_text(json.dumps({"rows": rows, "ceiling_s": CEILING_S}, indent=1))


if __name__ == "__main__":
    main(Path(tempfile.mkdtemp()))
