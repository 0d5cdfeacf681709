"""Inbound contractor status: a webhook or e-mail contractor reports `acknowledged` or
`repaired` by an HTTP POST, signed with the contractor's shared secret.

    POST /inbound/<municipality>/<contractor>
    X-Lamppost-Signature: sha256=<hex HMAC-SHA256(secret, body)>
    {"event_id": "crew-4711-2", "order": 17, "status": "repaired", "cause": "driver replaced"}

The same signature scheme as the service's own outbound webhook (dispatch.WebhookAdapter),
with the contractor's `secret` from the config. `event_id` is inside the signed body, so a
replayed or resent update is recognised and applied once (table `inbound`, written in the
transaction that changes the order). A contractor reaches only the orders routed to it in
its own municipality. Everything refused is counted (`inbound_bad_signature`,
`inbound_rejected`), never raised.

`status_update()` is a plain function of (engine, municipality, contractor, signature, body)
returning (HTTP status, JSON body): whatever serves HTTP (serve.py's stdlib server today)
only reads the request and writes the answer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re

from sqlalchemy import select

from host_tools.ops import schema as S
from host_tools.ops.engine import Engine

PATH_RE = re.compile(r"/inbound/([A-Za-z0-9][A-Za-z0-9_-]{0,63})/([^/?#]{1,64})")
SIGNATURE_HEADER = "X-Lamppost-Signature"
MAX_BODY = 16 * 1024  # a status update is a few hundred bytes
STATUSES = ("acknowledged", "repaired")
EVENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


class _Refused(Exception):
    """A transition not allowed now: rolls the transaction (and its `inbound` row) back."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for body: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str | None, body: bytes, header: str | None) -> bool:
    """True if header is body's signature under secret (compared in constant time)."""
    if not secret or not isinstance(header, str):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode("utf-8", "replace"))


def parse_update(body: bytes) -> dict:
    """The update's fields, checked: {event_id, order, status, cause}; ValueError otherwise."""
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("body is not JSON") from None
    if not isinstance(d, dict):
        raise ValueError("body must be a JSON object")
    ev, oid, st, cause = d.get("event_id"), d.get("order"), d.get("status"), d.get("cause", "")
    if not isinstance(ev, str) or not EVENT_RE.fullmatch(ev):
        raise ValueError(f"event_id must match {EVENT_RE.pattern}")
    if isinstance(oid, bool) or not isinstance(oid, int) or not 0 < oid < 2**31:
        raise ValueError("order must be the order's number")
    if st not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if not isinstance(cause, str) or len(cause) > 500:
        raise ValueError("cause must be a text of at most 500 characters")
    return {"event_id": ev, "order": oid, "status": st, "cause": cause}


def _count(e: Engine, name: str) -> None:
    try:
        with e.db.begin() as c:
            S.bump(c, name)
    except Exception:  # noqa: BLE001 - a counter must not turn a refusal into a crash
        pass


def status_update(e: Engine, municipality: str, contractor: str, signature: str | None,
                  body: bytes) -> tuple[int, dict]:
    """Apply one signed status update; (HTTP status, JSON answer).

    200 applied or duplicate (the same event_id again), 400 malformed, 401 bad signature or
    a contractor without an inbound secret, 404 no such order for this contractor, 409 the
    order cannot take this status now, 413 body too large."""
    if len(body) > MAX_BODY:
        _count(e, "inbound_rejected")
        return 413, {"error": f"body larger than {MAX_BODY} bytes"}
    m = e.cfg.municipalities.get(municipality)
    c = m.contractors.get(contractor) if m else None
    # an unknown contractor answers as a bad signature does: no probing for names
    if not signature_ok(c.secret("secret") if c else None, body, signature):
        _count(e, "inbound_bad_signature")
        return 401, {"error": f"bad or missing {SIGNATURE_HEADER}"}
    try:
        u = parse_update(body)
    except ValueError as err:
        _count(e, "inbound_rejected")
        return 400, {"error": str(err)}
    source = f"{municipality}/{contractor}"
    O, I = S.orders, S.inbound
    try:
        with e.db.begin() as conn:
            o = conn.execute(select(O.c.status).where(
                O.c.id == u["order"], O.c.municipality == municipality,
                O.c.contractor == contractor)).first()
            if o is None:
                raise LookupError
            if not S.insert_ignore(conn, I, source=source, event_id=u["event_id"],
                                  order_id=u["order"], status=u["status"], at=e.clock()):
                old = conn.execute(select(I.c.order_id, I.c.status).where(
                    I.c.source == source, I.c.event_id == u["event_id"])).one()
                if (old.order_id, old.status) != (u["order"], u["status"]):
                    raise _Refused(f"event_id {u['event_id']} was already used for order "
                                   f"{old.order_id} {old.status}")
                return 200, {"order": u["order"], "status": u["status"], "result": "duplicate"}
            cause = f"{contractor} (inbound {u['event_id']})" + (f": {u['cause']}" if u["cause"] else "")
            if not e.contractor_update_in(conn, u["order"], u["status"], cause):
                raise _Refused(f"order {u['order']} is {o.status}: it cannot become {u['status']} now")
    except LookupError:
        _count(e, "inbound_rejected")
        return 404, {"error": f"no order {u['order']} for contractor {contractor} of {municipality}"}
    except _Refused as err:
        _count(e, "inbound_rejected")
        return 409, {"error": str(err)}
    return 200, {"order": u["order"], "status": u["status"], "result": "applied"}
