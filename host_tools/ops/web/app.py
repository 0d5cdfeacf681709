"""The console as one FastAPI app: server-rendered pages, a JSON API (OpenAPI at /docs and
/openapi.json), server-sent events, static assets from pinned packages.

Authentication: a signed session cookie (Starlette's SessionMiddleware, itsdangerous) after
a login form, or `Authorization: Bearer <token>` for scripts. Every state-changing request
authenticated by the cookie carries the session's CSRF token (form field `csrf` or header
`X-CSRF-Token`); a bearer request carries no ambient credential and needs none. What a user
may see is decided in host_tools/ops/web/views.py's scoped queries; a post or order of
another municipality (or another contractor) answers 404, as one that does not exist.
"""
from __future__ import annotations

import csv
import hmac
import io
import json
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated
from pathlib import Path

import swagger_ui
import xstatic.pkg.leaflet as xleaflet
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.middleware.sessions import SessionMiddleware

from host_tools.ops.engine import iso

from . import accounts, views
from .accounts import AccountError, LoginLimiter, User
from .commands import COMMANDS, CommandError, Sender
from .live import Feed
from .plot import svg_series

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "lamppost_console"
# an order id as the database holds it (a larger number is a 422, not a database error)
OrderId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="the order's number")]


@dataclass
class Settings:
    """`[console]` of the ops config (docs/console-web.md)."""
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    secure_cookie: bool = False          # set behind HTTPS: the cookie is then never sent in clear
    session_max_age_s: int = 8 * 3600
    tile_url: str | None = None          # e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    tile_attribution: str = ""
    cmd_key_dir: str | None = None
    live_interval_s: float = 1.0
    login_limit: int = 5
    login_window_s: float = 300.0


class StatusIn(BaseModel):
    status: str = Field(description="acknowledged | repaired")
    note: str = Field("", max_length=500, description="goes to the audit trail")


class CommandIn(BaseModel):
    command: str = Field(description="Relay | Dim | SelfTest")
    param: str = Field("", max_length=16, description="Relay on|off|auto, Dim 0-100|auto, SelfTest none")


class Unauthenticated(Exception):
    pass


class NoFraming:
    """Every answer forbids framing by another site (a framed console could be clicked into
    marking an order repaired or sending a command) and content sniffing. Pure ASGI, so the
    server-sent event stream passes untouched."""

    HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)
        await self.app(scope, receive, send_with)


def _lifespan(feed: Feed):
    @asynccontextmanager
    async def lifespan(app):
        feed.start()
        yield
        if feed.task:
            feed.task.cancel()
    return lifespan


def create_app(engine, settings: Settings | None = None, publish=None) -> FastAPI:
    st = settings or Settings()
    db = engine.db
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["iso"] = iso
    limiter = LoginLimiter(st.login_limit, st.login_window_s)
    sender = Sender(db, st.cmd_key_dir, publish, clock=engine.clock)
    feed = Feed(engine, st.live_interval_s)

    # redirect_slashes off: `/posts/0%2F` must answer for the id it names (404), not redirect
    # to another post's page (`/posts/0`); no route here ends in a slash but "/"
    app = FastAPI(title="lamppost-ops console API", version="1", redirect_slashes=False,
                  description="The JSON API behind the lamppost operations console. Authenticate "
                              "with `Authorization: Bearer <token>` (`lamppost-ops user token NAME`) "
                              "or the console's session cookie plus the `X-CSRF-Token` header on "
                              "POST. Everything is scoped to the user's municipality.",
                  # /api/docs is ours (below): FastAPI's own page loads Swagger UI from a CDN
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=_lifespan(feed))
    app.add_middleware(NoFraming)
    app.add_middleware(SessionMiddleware, secret_key=st.session_secret, session_cookie=SESSION_COOKIE,
                       max_age=st.session_max_age_s, same_site="strict", https_only=st.secure_cookie)
    app.mount("/static/leaflet", StaticFiles(directory=xleaflet.BASE_DIR), name="leaflet")
    app.mount("/static/swagger-ui", StaticFiles(directory=str(Path(swagger_ui.__file__).parent / "static")), name="swagger-ui")
    app.mount("/static/console", StaticFiles(directory=str(HERE / "static")), name="console")
    app.state.engine, app.state.sender, app.state.feed, app.state.limiter = engine, sender, feed, limiter

    @app.exception_handler(Unauthenticated)
    async def _login_first(request: Request, exc):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in or give a bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login?next=" + request.url.path, status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        u = session_user(request)
        r = page(request, "error.html", u, code=exc.status_code, detail=exc.detail)
        r.status_code = exc.status_code
        return r

    @app.get("/api/docs", include_in_schema=False)
    def api_docs():
        """The OpenAPI page with Swagger UI 5 (OpenAPI 3.1) from the pinned swagger-ui-py package: works
        offline, as every other page of the console."""
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - docs",
                                   swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger-ui/favicon-32x32.png")

    # ---------- authentication ----------
    def csrf_token(request: Request) -> str:
        tok = request.session.get("csrf")
        if not tok:
            tok = request.session["csrf"] = secrets.token_urlsafe(24)
        return tok

    def session_user(request: Request) -> User | None:
        """The cookie's user if the session is still current: the cookie carries the account's
        session generation at login, which logout, a password change and disable raise."""
        uid, gen = request.session.get("uid"), request.session.get("gen")
        if not isinstance(uid, int) or not isinstance(gen, int):
            return None
        return accounts.load_user(db, uid, gen)

    def current_user(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            u = accounts.token_user(db, auth[7:].strip())
            if u is None:
                raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
            request.state.bearer = True
            return u
        u = session_user(request)
        if u is None:
            request.session.pop("uid", None)
            raise Unauthenticated()
        request.state.bearer = False
        return u

    async def check_csrf(request: Request, user: User = Depends(current_user)) -> User:
        """Every state-changing request with the session cookie proves it comes from our page."""
        if getattr(request.state, "bearer", False):
            return user
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf")
        want = request.session.get("csrf")
        if not want or not isinstance(sent, str) or not hmac.compare_digest(sent, want):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        return user

    def fleet_reader(user: User = Depends(current_user)) -> User:
        if not user.can_read_fleet:
            raise HTTPException(403, "a contractor account sees only its orders")
        return user

    def commander(user: User = Depends(check_csrf)) -> User:
        if not user.can_command:
            raise HTTPException(403, "sending commands needs the operator or admin role")
        return user

    def admin(user: User = Depends(current_user)) -> User:
        if not user.is_admin:
            raise HTTPException(403, "needs the admin role")
        return user

    def page(request: Request, name: str, user: User | None, **ctx):
        return templates.TemplateResponse(request, name, {
            "user": user, "csrf": csrf_token(request), "path": request.url.path, **ctx})

    def client_addr(request: Request) -> str:
        return request.client.host if request.client else "?"

    # ---------- pages ----------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/"):
        return page(request, "login.html", None, next=next if next.startswith("/") and
                    not next.startswith("//") else "/", error=None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        want = request.session.get("csrf")
        sent = form.get("csrf")
        nxt = str(form.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not want or not isinstance(sent, str) or not hmac.compare_digest(sent, want):
            r = page(request, "login.html", None, next=nxt, error="The form expired: please log in again.")
            r.status_code = 403
            return r
        name = str(form.get("username") or "")[:64]
        pw = str(form.get("password") or "")[:1024]
        keys = ("user:" + name.lower(), "addr:" + client_addr(request))
        wait = limiter.blocked(*keys)
        if wait:
            r = page(request, "login.html", None, next=nxt,
                     error=f"Too many failed logins: try again in {int(wait) + 1} s.")
            r.status_code = 429
            r.headers["Retry-After"] = str(int(wait) + 1)
            return r
        u = accounts.authenticate(db, name, pw)
        if u is None:
            limiter.failed(*keys)
            r = page(request, "login.html", None, next=nxt, error="Wrong user name or password.")
            r.status_code = 401
            return r
        limiter.succeeded(keys[0])
        request.session.clear()
        request.session.update(uid=u.id, gen=u.session_gen, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(nxt if nxt != "/" else ("/orders" if u.role == "contractor" else "/map"),
                                status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, user: User = Depends(check_csrf)):
        # clearing the cookie is not enough: a copy of it (another tab, a stolen one) stays
        # valid until it expires, so the account's sessions end on the server too
        accounts.end_sessions(db, user.id)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", include_in_schema=False)
    def home(user: User = Depends(current_user)):
        return RedirectResponse("/orders" if user.role == "contractor" else "/map", status_code=303)

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request, user: User = Depends(fleet_reader)):
        with db.connect() as c:
            choices = views.filter_choices(c, user)
        return page(request, "map.html", user, choices=choices, tile_url=st.tile_url,
                    tile_attribution=st.tile_attribution, q=dict(request.query_params))

    @app.get("/alarms", response_class=HTMLResponse, include_in_schema=False)
    def alarms_page(request: Request, user: User = Depends(fleet_reader)):
        with db.connect() as c:
            rows = views.active_alarms(c, user)
        return page(request, "alarms_part.html" if request.headers.get("x-partial") else "alarms.html",
                    user, alarms=rows)

    @app.get("/orders", response_class=HTMLResponse, include_in_schema=False)
    def orders_page(request: Request, status: str | None = None, open: int = 0,
                    user: User = Depends(current_user)):
        with db.connect() as c:
            rows = views.orders(c, user, status=status or None, open_only=bool(open),
                                now=engine.clock())
        return page(request, "orders_part.html" if request.headers.get("x-partial") else "orders.html",
                    user, orders=rows, status=status or "", open=open)

    @app.get("/orders/{oid}", response_class=HTMLResponse, include_in_schema=False)
    def order_page(request: Request, oid: OrderId, user: User = Depends(current_user)):
        with db.connect() as c:
            o = views.order(c, user, oid, now=engine.clock())
        if o is None:
            raise HTTPException(404, f"no order {oid}")
        return page(request, "order_part.html" if request.headers.get("x-partial") else "order.html",
                    user, o=o, msg=request.query_params.get("msg"))

    @app.post("/orders/{oid}/status", include_in_schema=False)
    async def order_status_form(request: Request, oid: OrderId, user: User = Depends(check_csrf)):
        form = await request.form()
        ok, msg = _order_update(user, oid, str(form.get("status") or ""), str(form.get("note") or ""))
        return RedirectResponse(f"/orders/{oid}?msg=" + ("" if ok else msg), status_code=303)

    @app.get("/posts/{pid}", response_class=HTMLResponse, include_in_schema=False)
    def post_page(request: Request, pid: str, user: User = Depends(fleet_reader)):
        with db.connect() as c:
            d = views.post_detail(c, user, pid, engine.cfg)
        if d is None:
            raise HTTPException(404, f"no post {pid}")
        h = d["history"]
        plots = {k: svg_series(h["t"], h[k], label) for k, label in
                 (("power_w", "power (W)"), ("voltage_v", "voltage (V)"), ("factor", "power factor"))}
        return page(request, "post.html", user, p=d, plots=plots, commands=COMMANDS,
                    msg=request.query_params.get("msg"))

    @app.post("/posts/{pid}/command", include_in_schema=False)
    async def post_command_form(request: Request, pid: str, user: User = Depends(commander)):
        form = await request.form()
        r = _command(user, pid, str(form.get("command") or ""), str(form.get("param") or ""))
        return RedirectResponse(f"/posts/{pid}?msg={r['command']} {r['param']}: {r['result']}",
                                status_code=303)

    @app.get("/reports", response_class=HTMLResponse, include_in_schema=False)
    def reports_page(request: Request, by: str = "month", user: User = Depends(fleet_reader)):
        by = by if by in ("municipality", "cabinet", "month") else "month"
        with db.connect() as c:
            rows = views.report(c, user, by, engine.cfg)
        return page(request, "reports.html", user, rows=rows, by=by)

    @app.get("/reports.csv", include_in_schema=False)
    def reports_csv(by: str = "month", user: User = Depends(fleet_reader)):
        return _csv(user, by)

    @app.get("/users", response_class=HTMLResponse, include_in_schema=False)
    def users_page(request: Request, user: User = Depends(admin)):
        return page(request, "users.html", user, users=accounts.list_users(db, user.municipality),
                    roles=accounts.ROLES, msg=request.query_params.get("msg"))

    @app.post("/users", include_in_schema=False)
    async def users_add(request: Request, user: User = Depends(check_csrf)):
        if not user.is_admin:
            raise HTTPException(403, "needs the admin role")
        form = await request.form()
        try:
            accounts.add_user(db, str(form.get("username") or ""), str(form.get("password") or ""),
                              str(form.get("role") or ""), user.municipality,
                              str(form.get("contractor") or "") or None)
            msg = f"user {form.get('username')} added"
        except AccountError as e:
            msg = str(e)
        return RedirectResponse("/users?msg=" + msg, status_code=303)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request, user: User = Depends(current_user)):
        gen = None if request.state.bearer else request.session.get("gen")
        return EventSourceResponse(feed.stream(user, gen), ping=15)

    # ---------- shared actions ----------
    def _order_update(user: User, oid: int, status: str, note: str) -> tuple[bool, str]:
        with db.connect() as c:
            o = views.order(c, user, oid)
        if o is None:
            raise HTTPException(404, f"no order {oid}")
        if user.role == "viewer":
            raise HTTPException(403, "a viewer cannot change orders")
        if status not in ("acknowledged", "repaired"):
            return False, "status must be acknowledged or repaired"
        who = f"{user.username} ({user.role}{', ' + user.contractor if user.contractor else ''})"
        cause = f"console: {who}" + (f": {note.strip()[:500]}" if note.strip() else "")
        if not engine.contractor_update(oid, status, cause):
            return False, f"order {oid} cannot become {status} now (it is {o['status']})"
        return True, ""

    def _command(user: User, pid: str, command: str, param: str) -> dict:
        with db.connect() as c:
            if not views.post_visible(c, user, pid):
                raise HTTPException(404, f"no post {pid}")
        try:
            return sender.send(user, pid, command, param)
        except CommandError as e:
            raise HTTPException(422, str(e)) from None

    def _csv(user: User, by: str) -> Response:
        if by not in ("municipality", "cabinet", "month"):
            raise HTTPException(422, "by must be municipality, cabinet or month")
        with db.connect() as c:
            rows = views.report(c, user, by, engine.cfg)
        buf = io.StringIO()
        cols = [by, "energy_kwh", "burning_h", "faults_reported", "faults_fixed",
                "fixed_within_sla_pct", "mttr_h"]
        w = csv.DictWriter(buf, cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r[k] is None else r[k] for k in cols})
        return Response(buf.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="lamppost-{user.municipality}-by-{by}.csv"'})

    # ---------- JSON API ----------
    @app.get("/api/v1/me", tags=["account"])
    def api_me(user: User = Depends(current_user)):
        return {"username": user.username, "role": user.role, "municipality": user.municipality,
                "contractor": user.contractor}

    @app.get("/api/v1/fleet", tags=["fleet"], summary="Every visible post with its state (columns)")
    def api_fleet(municipality: str | None = None, street: str | None = None,
                  cabinet: str | None = None, state: str | None = Query(None, enum=list(views.STATES)),
                  user: User = Depends(fleet_reader)):
        with db.connect() as c:
            f = views.fleet(c, user, engine.cfg, engine.clock(), municipality, street, cabinet, state)
        # 100,000 posts: straight to JSON (FastAPI's generic encoder walks every value first)
        return Response(json.dumps(f, separators=(",", ":")), media_type="application/json")

    @app.get("/api/v1/alarms", tags=["fleet"], summary="Raised alarms with their age")
    def api_alarms(user: User = Depends(fleet_reader)):
        with db.connect() as c:
            return views.active_alarms(c, user)

    @app.get("/api/v1/posts/{pid}", tags=["fleet"], summary="One post: readings, history, orders")
    def api_post(pid: str, user: User = Depends(fleet_reader)):
        with db.connect() as c:
            d = views.post_detail(c, user, pid, engine.cfg)
        if d is None:
            raise HTTPException(404, f"no post {pid}")
        return d

    @app.post("/api/v1/posts/{pid}/commands", tags=["fleet"], summary="Send a signed command")
    def api_command(pid: str, body: CommandIn, user: User = Depends(commander)):
        return _command(user, pid, body.command, body.param)

    @app.get("/api/v1/orders", tags=["orders"], summary="Work orders with SLA due and overdue")
    def api_orders(status: str | None = None, open: bool = False, user: User = Depends(current_user)):
        with db.connect() as c:
            return views.orders(c, user, status=status, open_only=open, now=engine.clock())

    @app.get("/api/v1/orders/{oid}", tags=["orders"], summary="One order with its audit trail")
    def api_order(oid: OrderId, user: User = Depends(current_user)):
        with db.connect() as c:
            o = views.order(c, user, oid, now=engine.clock())
        if o is None:
            raise HTTPException(404, f"no order {oid}")
        return o

    @app.post("/api/v1/orders/{oid}/status", tags=["orders"], summary="Acknowledge or report repaired")
    def api_order_status(oid: OrderId, body: StatusIn = Body(...), user: User = Depends(check_csrf)):
        ok, msg = _order_update(user, oid, body.status, body.note)
        if not ok:
            raise HTTPException(409, msg)
        return {"id": oid, "status": body.status}

    @app.get("/api/v1/reports", tags=["reports"], summary="Energy, burning hours, faults, SLA, MTTR")
    def api_reports(by: str = Query("month", enum=["municipality", "cabinet", "month"]),
                    user: User = Depends(fleet_reader)):
        with db.connect() as c:
            return views.report(c, user, by, engine.cfg)

    @app.get("/api/v1/reports.csv", tags=["reports"], summary="The report as CSV")
    def api_reports_csv(by: str = Query("month", enum=["municipality", "cabinet", "month"]),
                        user: User = Depends(fleet_reader)):
        return _csv(user, by)

    return app


def settings_from_config(console: dict) -> Settings:
    """Settings from the config's `[console]` table; the session secret from the environment
    variable it names (without one, a random secret: sessions end when the service restarts)."""
    import os

    from . import sla
    st = Settings()
    env = console.get("session_secret_env")
    secret = (os.environ.get(env) if env else None) or console.get("session_secret")
    if secret:
        st.session_secret = secret
    for k in ("secure_cookie", "session_max_age_s", "tile_url", "tile_attribution", "cmd_key_dir",
              "live_interval_s", "login_limit", "login_window_s"):
        if k in console:
            setattr(st, k, console[k])
    sla.configure(console.get("sla_h"))
    return st
