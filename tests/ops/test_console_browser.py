"""The console in a real headless browser (Playwright's Python package driving Debian's
Chromium): a post that fails turns red on the map without a reload, its order opens, the
contractor marks it repaired, the post verifies the repair at the next dusk and the order
page shows it; roles in the browser; a screenshot of every page in build/console-screenshots/.

The post's messages are the firmware's MQTT payloads (as tests/ops/test_demo_ops.py feeds
the engine), through the service's own parser, on a virtual clock: cheap and deterministic.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .console_helpers import PASSWORD, build_world
from .helpers import T0, Post, iso

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "console-screenshots"
TILES = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"  # a configured tile server (discard port: none answers)
RED = (214, 39, 40)
YELLOW = (242, 194, 0)
ORANGE = (255, 127, 14)


def chromium() -> str:
    path = os.environ.get("LAMPPOST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("needs Chromium (Playwright cannot download a browser here): "
                    "apt-get install chromium (.ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def browser():
    exe = chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def world(db_url, tmp_path):
    w = build_world(db_url, tmp_path)
    yield w
    w.server.stop()
    w.engine.db.dispose()


@pytest.fixture
def sqlite_world(tmp_path):
    """Roles in the browser once, on SQLite: the same checks run on both databases over HTTP
    (tests/ops/test_console_api.py)."""
    w = build_world(str(tmp_path / "ops.sqlite"), tmp_path, tile_url=TILES)
    yield w
    w.server.stop()
    w.engine.db.dispose()


def login(browser, w, user):
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=w.url)
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return ctx, page


def near(rgb, want, tol=40):
    return rgb is not None and all(abs(a - b) <= tol for a, b in zip(rgb, want))


def shot(page, name, db_url):
    if "postgresql" in db_url:  # one set of screenshots (the SQLite run) is enough
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_failing_post_turns_red_is_repaired_and_verified_at_dusk(browser, world, db_url):
    w, e = world, world.engine
    post = Post(e, "HT-0004", inc=7)
    post.lwt(True)
    post.switch(True, T0 + 60)       # dusk: the lamp is lit
    for k in range(14):              # SENSOR every 5 min; the driver dies at 19:00
        t = T0 + 120 + 300 * k
        lit = t < T0 + 3600
        post._send("tele/HT-0004/SENSOR", {"Time": iso(t), "ENERGY": {
            "Total": round(2.0 + 0.0025 * min(k, 11), 4), "operatingHours": round(10 + 300 * min(k, 11) / 3600, 2),
            "Power": 29.6 if lit else 0.4,
            "Voltage": 229.0 + (k % 3), "Current": 0.13 if lit else 0.003, "Factor": 0.96 if lit else 0.3}})
    post.state(T0 + 120)
    ctx, page = login(browser, w, "ho-operator")
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.reload()
    assert page.url.endswith("/map")
    page.wait_for_function("document.getElementById('map').dataset.rendered === '6'")
    # offline: every script, style and the map library come from the console itself, no tiles
    assert asked and all(u.startswith(w.url + "/") for u in asked), [u for u in asked if not u.startswith(w.url)]
    assert any("/static/leaflet/leaflet.js" in u for u in asked)
    assert page.locator("img.leaflet-tile").count() == 0
    page.wait_for_function("document.body.dataset.live === '1'")  # the event stream is open
    page.evaluate("window.__noReload = 1")
    page.wait_for_function("lamppostMap.pixelAt('HT-0004') !== null")
    assert near(page.evaluate("lamppostMap.pixelAt('HT-0004')"), YELLOW)
    shot(page, "map", db_url)

    # the lamp dies at 19:00: the firmware's lampFailure turns the post red, without a reload
    post.alarm("lampFailure", "raised", T0 + 3600)
    page.wait_for_function("lamppostMap.stateOf('HT-0004') === 'alarm'")
    assert near(page.evaluate("lamppostMap.pixelAt('HT-0004')"), RED)
    assert page.evaluate("window.__noReload") == 1
    page.goto("/alarms")
    assert page.locator("#alarms-table tr[data-post=HT-0004]").count() == 1
    shot(page, "alarms", db_url)

    # 15 minutes later by the post's clock: an order for citytec
    w.clock.t = T0 + 3600 + 1000
    post.state(T0 + 3600 + 1000)
    e.tick()
    [oid] = [o["id"] for o in e.orders() if o["post_id"] == "HT-0004"]
    page.goto(f"/posts/HT-0004")
    assert page.locator("#post-alarms tr.raised").count() == 1
    assert page.locator(f"a[href='/orders/{oid}']").count() == 1
    shot(page, "post", db_url)
    r = page.goto("/users")
    assert r.status == 403 and "admin" in page.locator("main").inner_text()  # an operator is no admin
    ctx.close()

    # the contractor opens its order and marks it repaired (next morning, by day)
    w.clock.t = T0 + 16 * 3600
    post.state(T0 + 16 * 3600)
    cctx, crew = login(browser, w, "ho-citytec")
    assert crew.url.endswith("/orders")
    crew.click(f"#orders-table a[href='/orders/{oid}']")
    crew.wait_for_url(f"**/orders/{oid}")
    shot(crew, "orders-contractor-order", db_url)
    crew.fill("input[name=note]", "driver replaced")
    crew.click("#mark-repaired")
    crew.wait_for_url(f"**/orders/{oid}*")
    assert crew.locator("#order-status").inner_text() == "repaired"
    crew.evaluate("window.__noReload = 1")
    crew.wait_for_function("document.body.dataset.live === '1'")

    # at dusk the post switches the lamp on and clears lampFailure: verified, shown live
    dusk = T0 + 86400 - 300
    w.clock.t = T0 + 86400 - 3 * 3600  # the post reports all day (STATE every 5 min)
    post.state(T0 + 86400 - 3 * 3600)
    w.clock.t = dusk + 120
    post.switch(True, dusk)
    post.alarm("lampFailure", "cleared", dusk + 62)
    post.state(dusk + 120)
    e.tick()
    crew.wait_for_function("document.getElementById('order-status').textContent === 'verified'")
    assert crew.evaluate("window.__noReload") == 1
    steps = [a["to"] for a in crew.evaluate(
        f"fetch('/api/v1/orders/{oid}').then(r => r.json())")["timeline"] if a["from"] != a["to"]]
    assert steps == ["opened", "repaired", "verified"]  # no contractor configured: not dispatched
    shot(crew, "order-verified", db_url)
    crew.goto("/orders")
    shot(crew, "orders", db_url)
    cctx.close()

    # the month's report: K2's fault fixed within its SLA, time to repair opened -> verified
    ctx, page = login(browser, w, "ho-viewer")
    page.goto("/reports?by=cabinet")
    k2 = page.locator("#report tr", has_text="K2").locator("td").all_inner_texts()
    ttr_h = ((dusk + 120) - (T0 + 3600 + 1000)) / 3600
    assert k2[3:] == ["1", "1", "100.0 %", f"{ttr_h:.2f}"]
    shot(page, "reports", db_url)
    with page.expect_download() as dl:
        page.click("#csv")
    assert "K2," in Path(dl.value.path()).read_text()
    ctx.close()


def test_roles_in_the_browser(browser, sqlite_world):
    w, db_url = sqlite_world, "sqlite"
    ctx, page = login(browser, w, "ho-citytec")
    r = page.goto("/map")
    assert r.status == 403
    assert page.locator("nav a[href='/map']").count() == 0
    r = page.goto("/posts/HT-0001")
    assert r.status == 403
    r = page.goto(f"/orders/{w.orders['utrecht']}")
    assert r.status == 404
    ctx.close()
    ctx, page = login(browser, w, "ho-viewer")
    # with a tile URL configured, the map asks that server for its background
    page.wait_for_function("document.getElementById('map').dataset.rendered === '6'")
    srcs = page.locator("img.leaflet-tile").evaluate_all("els => els.map(e => e.src)")
    assert srcs and all(x.startswith("http://127.0.0.1:9/tiles/") for x in srcs)
    page.goto("/posts/HT-0001")
    assert page.locator("#command-form").count() == 0  # a viewer sends no commands
    assert page.locator("nav a[href='/users']").count() == 0
    page.goto(f"/orders/{w.orders['houten']}")
    assert page.locator("#mark-repaired").count() == 0
    r = page.goto("/posts/UT-0001")
    assert r.status == 404
    ctx.close()
    ctx, page = login(browser, w, "ho-admin")
    page.goto("/users")
    assert page.locator("table td", has_text="ho-citytec").count() == 1
    assert page.locator("table td", has_text="ut-").count() == 0
    shot(page, "users", db_url)
    page.goto("/posts/HT-0001")
    assert page.locator("#command-form").count() == 1
    # the OpenAPI page works offline too: Swagger UI from the pinned package, nothing from a CDN
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto("/api/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock", has_text="/api/v1/fleet").count() >= 1
    assert asked and all(u.startswith(w.url + "/") for u in asked), [u for u in asked if not u.startswith(w.url)]
    shot(page, "api-docs", db_url)
    page.context.clear_cookies()
    page.goto("/login")
    shot(page, "login", db_url)
    ctx.close()


def test_zoomed_out_thousands_of_posts_cluster_in_the_worst_state_colour(browser, sqlite_world):
    """2,500 posts of one town: the map opens zoomed out, draws clusters (not 2,500 dots), every
    drawn post is in one, and the cluster holding the post in alarm is ringed red."""
    from sqlalchemy import insert

    from host_tools.ops import schema
    w = sqlite_world
    rows = [{"id": f"HX-{i:04d}", "municipality": "houten", "street": "Veld", "cabinet": "KX",
             "lat": round(52.20 + (i // 50) * 0.0008, 6), "lon": round(5.30 + (i % 50) * 0.0012, 6),
             "imported_at": 0.0} for i in range(2500)]
    with w.engine.db.begin() as c:
        c.execute(insert(schema.posts), rows)
        c.execute(insert(schema.alarms).values(post_id="HX-1234", alarm="lampFailure", raised=True,
                                               since_t=0, handled=False))
    ctx, page = login(browser, w, "ho-viewer")
    page.wait_for_function("document.getElementById('map').dataset.rendered === '2506'")
    assert page.evaluate("lamppostMap.map.getZoom()") < 17
    cl = page.evaluate("lamppostMap.clusters()")
    assert cl and len(cl) < 500 and max(c["n"] for c in cl) > 1
    assert sum(c["n"] for c in cl) == 2506  # the whole town is in view, each post in one cluster
    # the world's HT posts (elsewhere) have alarms of their own; in the HX field only HX-1234
    lo = page.evaluate("lamppostMap.map.latLngToContainerPoint([52.2392, 5.30])")
    hi = page.evaluate("lamppostMap.map.latLngToContainerPoint([52.20, 5.3588])")
    field = [c for c in cl if lo["x"] - 1 <= c["x"] <= hi["x"] + 1 and lo["y"] - 1 <= c["y"] <= hi["y"] + 1]
    assert sum(c["n"] for c in field) == 2500
    [big] = [c for c in field if c["worst"] == "alarm"]
    assert big["n"] > 1
    ring = page.evaluate("""c => { const cv = document.querySelector('canvas.dots'), d = window.devicePixelRatio || 1;
        return Array.from(cv.getContext('2d').getImageData(Math.round(c.x * d), Math.round((c.y - c.r - 1.5) * d), 1, 1).data).slice(0, 3); }""", big)
    shot(page, "map-clusters", "sqlite")
    assert near(ring, RED), (ring, big)
    ctx.close()
