"""Dispatch: the persisted queue (table `dispatch`) to contractors' systems, with retries.

Each queue row is one action (create | escalate | update) for one order, with an idempotency key
made when the row was queued. A worker claims a due row by pushing its `next_at` a lease
ahead (so a crashed worker's row comes back), sends, and records the answer:
- delivered: the order becomes `dispatched` with the contractor's ticket id;
- a transient failure (network, timeout, 5xx, 429, 408): retried after
  retry_base_s * 2^(attempts-1), at most retry_max_s, for ever (a contractor down for a
  day gets every order when it is back);
- a permanent refusal (other 4xx: bad service code, bad request): the row is held as
  `rejected` with the answer, for the operator (`lamppost-ops dispatch retry`).
An `update` (the engine re-classed an order the contractor already has, e.g. a lamp order
that turned out to be a relay fault) goes to the ticket the create made, once that is known:
Signalen gets a PATCH of category and priority, the webhook an `update` with the same order
id, e-mail a reply in the order's thread; Open311 GeoReport v2 has no way for a client to
change a request, so the row is held as `manual` and the order's audit says so.
A retry never makes a second ticket: the webhook gets the same Idempotency-Key; Open311
and Signalen have no such header, so before re-sending a row that was sent before the
adapter looks for a ticket carrying the key (in the description / extra_properties).

HTTP through urllib (standard library): a handful of requests a minute, no connection
pool or async needed, and one dependency fewer to pin and audit.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from email.message import EmailMessage

from sqlalchemy import select, update

from host_tools.ops import schema as S
from host_tools.ops.config import Config, Contractor
from host_tools.ops.engine import Engine, iso

log = logging.getLogger("lamppost-ops")

LEASE_S = 120
TIMEOUT_S = 20
STATUS_BATCH = 50  # Open311 tickets asked for in one GET (the ids go in the URL)
STATUS_URL_IDS = 2000  # characters of ids in one such URL (servers cap a URL at 4-8 KB)


class Transient(Exception):
    """Try again later."""


class Refused(Exception):
    """The contractor's system refuses this request; retrying the same will not help."""


def _http(method: str, url: str, *, data: bytes | None = None, headers: dict | None = None,
          ctx: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=ctx) as r:
            return r.status, r.read(1 << 20)
    except urllib.error.HTTPError as e:
        body = e.read(4096)
        if e.code >= 500 or e.code in (408, 429):
            raise Transient(f"HTTP {e.code} from {url}: {body[:200]!r}") from None
        raise Refused(f"HTTP {e.code} from {url}: {body[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise Transient(f"{url}: {getattr(e, 'reason', e)}") from None


def _json(body: bytes, what: str):
    try:
        return json.loads(body)
    except ValueError:
        raise Transient(f"{what}: answer is not JSON: {body[:100]!r}") from None


def _ticket(value, what: str) -> str:
    """A contractor's ticket id as text: a non-empty string or an integer, else Transient (the
    answer is not understood; asked again, and found there before sending twice)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip() \
            or len(str(value)) > 200:
        raise Transient(f"{what}: no ticket id in the answer: {str(value)[:100]!r}")
    return str(value)


class Adapter:
    def __init__(self, c: Contractor):
        self.c = c
        self.o = c.options
        self.url = str(self.o.get("url", "")).rstrip("/")
        self.ctx = ssl.create_default_context(cafile=self.o["ca_file"]) if self.o.get("ca_file") else None

    def find(self, key: str, order: dict) -> str | None:
        """The ticket an earlier attempt made with this key, if the system shows one."""
        return None

    def send(self, order: dict, action: str, key: str) -> str:
        raise NotImplementedError

    def update(self, order: dict, key: str, ticket: str) -> str:
        """Correct the contractor's ticket to the order as it is now; Unsupported if the
        system has no way to."""
        raise Unsupported(f"{type(self).__name__} cannot change a ticket")

    def updates(self, tickets: list[str]) -> list[tuple[str, str, str]]:
        """(ticket id, acknowledged | repaired, what the contractor said) since last asked."""
        return []


class Unsupported(Exception):
    """The contractor's system cannot take this action: an operator does it by hand."""


def _text(order: dict, action: str, key: str) -> str:
    head = {"escalate": "ESCALATED, repair not verified by the post: ",
            "update": f"UPDATE, now {order['fault_class']} priority {order['priority']} "
                      f"(category {order['category']}): "}.get(action, "")
    return f"{head}{order['description']} [order {order['id']}, ref {key}]"


class Open311(Adapter):
    """Open311 GeoReport v2: GET services.json (once: a configured service_code the contractor
    does not offer is refused with the codes it does), POST requests.json (form-encoded), status
    by GET requests.json?service_request_id=a,b,... (the spec's multi-id query: one request per
    STATUS_BATCH open tickets; `closed` = repaired), GET requests/{id}.json for any it left out
    (a server that ignores the parameter) and for all from a server that refused it. GeoReport v2 has no `in progress`; mySociety's
    servicerequestupdates.json (an extension) is not used."""

    offered: set[str] | None = None

    def _code(self, order):
        codes = self.o.get("service_codes", {})
        code = codes.get(order["fault_class"]) or self.o.get("service_code")
        if not code:
            raise Refused(f"no Open311 service_code for fault class {order['fault_class']}")
        if self.offered is None:
            q = f"?jurisdiction_id={urllib.parse.quote(self.o['jurisdiction_id'])}" \
                if self.o.get("jurisdiction_id") else ""
            _, body = _http("GET", f"{self.url}/services.json{q}", ctx=self.ctx)
            ans = _json(body, "Open311 GET services")
            if not isinstance(ans, list):
                raise Transient(f"Open311 GET services: not a list: {body[:100]!r}")
            self.offered = {str(s.get("service_code")) for s in ans if isinstance(s, dict)}
        if str(code) not in self.offered:
            raise Refused(f"Open311 service_code {code} (fault class {order['fault_class']}) is not "
                          f"among {self.url}'s services: {', '.join(sorted(self.offered)) or 'none'}")
        return str(code)

    def find(self, key, order):
        q = {"start_date": iso(int(order["opened_at"]) - 3600)}
        if self.o.get("jurisdiction_id"):
            q["jurisdiction_id"] = self.o["jurisdiction_id"]
        _, body = _http("GET", f"{self.url}/requests.json?{urllib.parse.urlencode(q)}", ctx=self.ctx)
        ans = _json(body, "Open311 GET requests")
        for r in ans if isinstance(ans, list) else []:
            if isinstance(r, dict) and key in str(r.get("description", "")):
                return _ticket(r.get("service_request_id"), "Open311 GET requests")
        return None

    def send(self, order, action, key):
        f = [("api_key", self.c.secret("api_key") or ""), ("service_code", self._code(order)),
             ("description", _text(order, action, key))]
        if self.o.get("jurisdiction_id"):
            f.append(("jurisdiction_id", self.o["jurisdiction_id"]))
        if order.get("lat") is not None:
            f += [("lat", f"{order['lat']:.6f}"), ("long", f"{order['lon']:.6f}")]
        else:
            f.append(("address_string", order.get("street") or order["subject"]))
        if order.get("light_point"):
            f.append((f"attribute[{self.o.get('light_point_attribute', 'light_point')}]",
                      order["light_point"]))
        _, body = _http("POST", f"{self.url}/requests.json", data=urllib.parse.urlencode(f).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, ctx=self.ctx)
        ans = _json(body, "Open311 POST requests")
        if not isinstance(ans, list) or not ans or not isinstance(ans[0], dict):
            raise Transient(f"Open311 answer without a request: {body[:200]!r}")
        return _ticket(ans[0].get("service_request_id") or ans[0].get("token"),
                       "Open311 POST requests (service_request_id or token)")

    def update(self, order, key, ticket):
        raise Unsupported(f"Open311 GeoReport v2 cannot change request {ticket}: it still has the "
                          f"old service code; the order is now {order['fault_class']} priority "
                          f"{order['priority']}: tell the contractor")

    multi = True  # the server takes the multi-id query; False after it refused one (4xx)

    def _batches(self, tickets: list[str]):
        """The tickets STATUS_BATCH at a time, and within STATUS_URL_IDS characters of ids."""
        batch, size = [], 0
        for rid in tickets:
            if batch and (len(batch) == STATUS_BATCH or size + len(rid) + 1 > STATUS_URL_IDS):
                yield batch
                batch, size = [], 0
            batch.append(rid)
            size += len(rid) + 1
        if batch:
            yield batch

    def _one(self, rid: str) -> dict:
        _, body = _http("GET", f"{self.url}/requests/{urllib.parse.quote(rid)}.json", ctx=self.ctx)
        one = _json(body, "Open311 GET request")
        return one[0] if isinstance(one, list) and one and isinstance(one[0], dict) else {}

    def updates(self, tickets):
        """A ticket whose status cannot be had this round (the server down, one request deleted
        there) is asked again next round; it never holds back the others. A server that
        refuses the multi-id query is asked one ticket at a time from then on."""
        out, asked, failed = [], 0, None
        for ids in self._batches(tickets):
            got: dict = {}
            if self.multi:
                q = {"service_request_id": ",".join(ids)}
                if self.o.get("jurisdiction_id"):
                    q["jurisdiction_id"] = self.o["jurisdiction_id"]
                try:
                    _, body = _http("GET", f"{self.url}/requests.json?{urllib.parse.urlencode(q)}",
                                    ctx=self.ctx)
                    ans = _json(body, "Open311 GET requests")
                    got = {str(r.get("service_request_id")): r for r in ans if isinstance(r, dict)} \
                        if isinstance(ans, list) else {}
                    asked += 1
                except Refused:
                    self.multi = False  # 400/404/414 to the query: one by one (below, and on)
                except Transient as e:
                    failed = e
                    continue
            for rid in ids:
                r = got.get(rid)
                if r is None:  # left out: the server ignored the parameter, or paged it away
                    try:
                        r = self._one(rid)
                        asked += 1
                    except (Transient, Refused) as e:
                        failed = e
                        continue
                if r.get("status") == "closed":
                    out.append((rid, "repaired", f"Open311 status closed: {r.get('status_notes') or ''}"))
        if failed and not asked and not out:
            raise failed  # nothing came through: the poll says so, and asks again
        return out


SIGNALEN_CAT = "{base}/signals/v1/public/terms/categories/{main}/sub_categories/{sub}"


class Signalen(Adapter):
    """Signalen: POST /signals/v1/private/signals/ with a Bearer token; status back from the
    status-updates feed."""

    def _auth(self):
        return {"Authorization": f"Bearer {self.c.secret('token') or ''}"}

    def find(self, key, order):
        q = urllib.parse.urlencode({"source": self.o.get("source", "lamppost"),
                                    "created_after": iso(int(order["opened_at"]) - 3600)})
        _, body = _http("GET", f"{self.url}/signals/v1/private/signals/?{q}", headers=self._auth(),
                        ctx=self.ctx)
        ans = _json(body, "Signalen list")
        res = ans.get("results") if isinstance(ans, dict) else None
        for s in res if isinstance(res, list) else []:
            extra = s.get("extra_properties") if isinstance(s, dict) else None
            if isinstance(extra, dict) and extra.get("lamppost_ref") == key:
                return _ticket(s.get("signal_id") or s.get("id"), "Signalen list")
        return None

    def send(self, order, action, key):
        sub = order["category"]
        main = self.o.get("main_category", "wegen-verkeer-straatmeubilair")
        body = {
            "text": _text(order, action, key)[:3000],
            "location": {"geometrie": {"type": "Point", "coordinates": [order["lon"], order["lat"]]}},
            "category": {"sub_category": SIGNALEN_CAT.format(base=self.url, main=main, sub=sub)},
            "reporter": {"email": self.o.get("reporter_email", ""), "sharing_allowed": False},
            "incident_date_start": iso(order["first_t"]),
            "source": self.o.get("source", "lamppost"),
            "priority": "high" if order["priority"] <= 1 else "normal",
            "type": "SIG",
            "extra_properties": {"lamppost_ref": key,
                                 "extra_straatverlichting_nummer": order.get("light_point") or "",
                                 "extra_straatverlichting_hoeveel":
                                     "meerdere_lichtpunten" if len(order["posts"]) > 1 else "1_lichtpunt",
                                 "extra_straatverlichting_probleem":
                                     "lamp_brandt_overdag" if order["fault_class"] == "dayburning"
                                     else "lamp_doet_het_niet"},
        }
        if order.get("lat") is None:
            raise Refused("Signalen needs the post's coordinates (lat/lon in the register)")
        _, ans = _http("POST", f"{self.url}/signals/v1/private/signals/",
                       data=json.dumps(body).encode(),
                       headers={**self._auth(), "Content-Type": "application/json"}, ctx=self.ctx)
        a = _json(ans, "Signalen POST")
        return _ticket((a.get("signal_id") or a.get("id")) if isinstance(a, dict) else None,
                       "Signalen POST (signal_id or id)")

    def update(self, order, key, ticket):
        main = self.o.get("main_category", "wegen-verkeer-straatmeubilair")
        body = {"category": {"sub_category": SIGNALEN_CAT.format(base=self.url, main=main,
                                                                 sub=order["category"]),
                             "text": _text(order, "update", key)[:3000]},
                "priority": {"priority": "high" if order["priority"] <= 1 else "normal"}}
        _http("PATCH", f"{self.url}/signals/v1/private/signals/{urllib.parse.quote(ticket)}",
              data=json.dumps(body).encode(),
              headers={**self._auth(), "Content-Type": "application/json"}, ctx=self.ctx)
        return ticket

    cursor: str | None = None

    def updates(self, tickets):
        want, out = set(tickets), []
        while True:
            q = {"source": self.o.get("source", "lamppost"), "limit": 500}
            if self.cursor:
                q["after"] = self.cursor
            _, body = _http("GET", f"{self.url}/signals/v1/private/status-updates?"
                            f"{urllib.parse.urlencode(q)}", headers=self._auth(), ctx=self.ctx)
            page = _json(body, "Signalen status-updates")
            if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
                raise Transient(f"Signalen status-updates: not a page of items: {body[:100]!r}")
            for it in page.get("items", []):
                if not isinstance(it, dict):
                    continue
                sid, status = str(it.get("signal_id")), it.get("status")
                st = {"IN_PROGRESS": "acknowledged", "RESOLVED": "repaired"}.get(status) \
                    if isinstance(status, str) else None
                if sid in want and st:
                    out.append((sid, st, f"Signalen {status} at {it.get('changed_at')}"))
            nxt = page.get("next_cursor")
            if not nxt or not page.get("items") or not isinstance(nxt, (str, int)):
                break
            self.cursor = str(nxt)
        return out


class Webhook(Adapter):
    """A generic webhook: the order as JSON, signed X-Lamppost-Signature: sha256=HMAC(secret,
    body), and an Idempotency-Key the receiver dedupes on."""

    def send(self, order, action, key):
        body = json.dumps({"action": action, "idempotency_key": key, "order": {
            k: order.get(k) for k in ("id", "municipality", "fault_class", "category", "priority",
                                      "description", "post_id", "posts", "cabinet", "light_point",
                                      "street", "lat", "lon")} | {"first_t": iso(order["first_t"])}},
            sort_keys=True).encode()
        sig = hmac.new((self.c.secret("secret") or "").encode(), body, hashlib.sha256).hexdigest()
        _, ans = _http("POST", self.url, data=body, ctx=self.ctx, headers={
            "Content-Type": "application/json", "Idempotency-Key": key,
            "X-Lamppost-Signature": f"sha256={sig}"})
        a = _json(ans, "webhook")
        got = a.get("id") if isinstance(a, dict) else None
        return key if got is None or got == "" else _ticket(got, "webhook answer's id")

    def update(self, order, key, ticket):
        self.send(order, "update", key)  # same order id, action update: the receiver's job
        return ticket


class Email(Adapter):
    """E-mail for a contractor without a system: SMTP with STARTTLS (required), login if set."""

    def send(self, order, action, key):
        m = EmailMessage()
        m["From"] = self.o.get("from", "lamppost-ops@localhost")
        m["To"] = self.o["to"]
        m["Subject"] = (f"[lamppost order {order['id']}] " + {"escalate": "ESCALATED ",
                                                              "update": "UPDATE "}.get(action, "")
                        + f"{order['fault_class']} priority {order['priority']}: {order['post_id']}")
        m["Message-ID"] = f"<{key}@lamppost-ops>"
        if action == "update" and order.get("remote_id"):  # in the thread of the first mail
            m["In-Reply-To"] = m["References"] = order["remote_id"]
        m.set_content(_text(order, action, key) + "\n\n" + "\n".join(
            f"{k}: {order.get(k)}" for k in ("municipality", "posts", "light_point", "street",
                                              "cabinet", "lat", "lon", "category")))
        ctx = self.ctx or ssl.create_default_context()
        try:
            with smtplib.SMTP(self.o.get("host", "localhost"), int(self.o.get("port", 587)),
                              timeout=TIMEOUT_S) as s:
                s.starttls(context=ctx)
                if self.o.get("user"):
                    s.login(self.o["user"], self.c.secret("password") or "")
                s.send_message(m)
        except smtplib.SMTPResponseException as e:
            if 500 <= e.smtp_code < 600:
                raise Refused(f"SMTP {e.smtp_code}: {e.smtp_error!r}") from None
            raise Transient(f"SMTP {e.smtp_code}: {e.smtp_error!r}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise Transient(f"SMTP: {e}") from None
        return m["Message-ID"]

    def update(self, order, key, ticket):
        self.send(order, "update", key)
        return ticket


ADAPTERS = {"open311": Open311, "signalen": Signalen, "webhook": Webhook, "email": Email}


class Dispatcher:
    """Works the dispatch queue and polls contractors for status, on the engine's clock."""

    def __init__(self, engine: Engine, cfg: Config):
        self.e = engine
        self.cfg = cfg
        self.adapters: dict[tuple[str, str], Adapter] = {}

    def adapter(self, muni: str, name: str) -> Adapter | None:
        if (muni, name) not in self.adapters:
            c = self.cfg.municipality(muni).contractors.get(name)
            self.adapters[(muni, name)] = ADAPTERS[c.adapter](c) if c else None
        return self.adapters[(muni, name)]

    def _order(self, c, oid) -> dict:
        o = dict(c.execute(select(S.orders).where(S.orders.c.id == oid)).mappings().one())
        post = c.execute(select(S.posts).where(S.posts.c.id == o["post_id"])).mappings().first() or {}
        for k in ("lat", "lon", "light_point", "street"):
            o[k] = post.get(k)
        o["posts"] = self.e._order_posts(c, oid)
        return o

    def run(self) -> dict:
        """Send every due row once; {'sent', 'retry', 'rejected'} counts."""
        n = {"sent": 0, "retry": 0, "rejected": 0}
        D = S.dispatch
        while True:
            now = self.e.clock()
            with self.e.db.begin() as c:  # claim one due row (a lease, not a lock held over HTTP)
                row = c.execute(select(D).where(D.c.state == "pending", D.c.next_at <= now)
                                .order_by(D.c.next_at, D.c.id).limit(1)
                                .with_for_update(skip_locked=True)).mappings().first()
                if row is None:
                    return n
                order = self._order(c, row["order_id"])
                if row["action"] == "update" and not order["remote_id"]:
                    if c.execute(select(D.c.id).where(D.c.order_id == row["order_id"],
                                                      D.c.action == "create",
                                                      D.c.state == "pending")).first():
                        # the ticket to update is not known yet: after the create
                        c.execute(update(D).where(D.c.id == row["id"]).values(
                            next_at=now + max(1, self.cfg.rules(order["municipality"])["retry_base_s"])))
                    else:  # no ticket: a create sent later (retry) carries the order as it is
                        c.execute(update(D).where(D.c.id == row["id"]).values(
                            state="merged", last_error="no ticket to update"))
                    continue
                c.execute(update(D).where(D.c.id == row["id"]).values(
                    next_at=now + LEASE_S, attempts=row["attempts"] + 1))
            muni = order["municipality"]
            ad = self.adapter(muni, row["contractor"])
            rid, err, refused, manual = None, None, False, False
            try:
                if ad is None:
                    raise Refused(f"contractor {row['contractor']} is not in the config of {muni}")
                if row["action"] == "update":
                    rid = ad.update(order, row["idem_key"], order["remote_id"])
                else:
                    if row["attempts"] > 0:
                        rid = ad.find(row["idem_key"], order)
                    if rid is None:
                        rid = ad.send(order, row["action"], row["idem_key"])
            except Unsupported as e:
                err, refused, manual = str(e), True, True
            except Refused as e:
                err, refused = str(e), True
            except Transient as e:
                err = str(e)
            except Exception as e:  # noqa: BLE001 - an answer no adapter foresaw: retried, never lost
                err = f"{row['contractor']}: answer not understood: {type(e).__name__}: {e}"[:500]
                log.exception("dispatch: answer not understood", extra={"fields": {
                    "order": order["id"], "contractor": row["contractor"]}})
            r = self.cfg.rules(muni)
            with self.e.db.begin() as c:
                # the order may have moved to another contractor while this was on its way
                # (engine._take_over): a create that lands then is that contractor's no more
                now_for = c.execute(select(S.orders.c.contractor).where(S.orders.c.id == order["id"])
                                    .with_for_update()).scalar()
                moved = row["action"] == "create" and now_for != row["contractor"]
                if err is None:
                    c.execute(update(D).where(D.c.id == row["id"]).values(
                        state="sent", remote_id=rid, sent_at=now, last_error=None))
                    n["sent"] += 1
                if err is None and moved:
                    self.e._audit(c, order["id"], None, None,
                                  f"create delivered to {row['contractor']} as {rid} after the order "
                                  f"went to {now_for}: withdraw ticket {rid} there by hand", now)
                elif moved:  # withdrawn (merged) by the move: not retried, not held for the operator
                    c.execute(update(D).where(D.c.id == row["id"]).values(state="merged", last_error=err))
                elif err is None:
                    if row["action"] == "create":
                        c.execute(update(S.orders).where(S.orders.c.id == order["id"])
                                  .values(remote_id=rid))
                    self.e._set_status(c, order["id"], "dispatched",
                                       f"{row['action']} delivered to {row['contractor']} as {rid} "
                                       f"(attempt {row['attempts'] + 1})", now) \
                        or self.e._audit(c, order["id"], None, None,
                                         f"{row['action']} delivered to {row['contractor']} as {rid}", now)
                    if row["action"] == "escalate":
                        c.execute(update(S.orders).where(S.orders.c.id == order["id"])
                                  .values(escalated=True))
                elif manual:
                    c.execute(update(D).where(D.c.id == row["id"]).values(state="manual", last_error=err))
                    self.e._audit(c, order["id"], None, None, f"{row['action']} not sent: {err}", now)
                elif refused:
                    c.execute(update(D).where(D.c.id == row["id"]).values(state="rejected", last_error=err))
                    self.e._audit(c, order["id"], None, None, f"dispatch refused: {err}", now)
                    n["rejected"] += 1
                else:
                    delay = min(r["retry_base_s"] * 2 ** row["attempts"], r["retry_max_s"])
                    c.execute(update(D).where(D.c.id == row["id"]).values(
                        next_at=now + delay, last_error=err))
                    n["retry"] += 1

    def poll(self) -> int:
        """Ask every contractor system for status changes of its open tickets."""
        O = S.orders
        with self.e.db.connect() as c:
            rows = c.execute(select(O.c.id, O.c.municipality, O.c.contractor, O.c.remote_id, O.c.status)
                             .where(O.c.open_slot.is_not(None), O.c.remote_id.is_not(None))).all()
        by: dict = {}
        for r in rows:
            by.setdefault((r.municipality, r.contractor), []).append(r)
        n = 0
        for (muni, name), orders in by.items():
            ad = self.adapter(muni, name)
            if ad is None:
                continue
            ids = {o.remote_id: o.id for o in orders}
            try:
                ups = ad.updates(list(ids))
            except Transient:
                continue  # asked again next round
            except Refused as e:  # credentials or the URL, most likely: the operator must know
                log.warning("poll: status refused", extra={"fields": {
                    "municipality": muni, "contractor": name, "why": str(e)[:300]}})
                continue
            except Exception:  # noqa: BLE001 - one contractor's odd answer stops no other's status
                log.exception("poll: status answer not understood", extra={"fields": {
                    "municipality": muni, "contractor": name}})
                continue
            for rid, status, why in ups:
                if rid in ids and self.e.contractor_update(ids[rid], status, why):
                    n += 1
        return n


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
