"""Signalen's private API as documented: POST /signals/v1/private/signals/ (Bearer token,
JSON; text, location.geometrie Point, category.sub_category a known sub-category URL,
incident_date_start, source known to the server: else 400 with field errors; 401 without
the token), a filtered list, and the status-updates feed with a cursor."""
from __future__ import annotations

import json
import re
import urllib.parse
import uuid

from .base import App

SUBS = {"lantaarnpaal-straatverlichting", "verlichting-netstoring", "verdeelkasten-bekabeling"}
CAT_RE = re.compile(r".*/signals/v1/public/terms/categories/[a-z-]+/sub_categories/([a-z-]+)$")


class SignalenServer(App):
    def __init__(self, token="t0ken", sources=("lamppost",)):
        super().__init__()
        self.token, self.sources = token, set(sources)
        self.signals: list[dict] = []
        self.feed: list[dict] = []

    def _authed(self, h):
        return h.headers.get("Authorization") == f"Bearer {self.token}"

    def get(self, h):
        if not self._authed(h):
            return 401, {"detail": "Authentication credentials were not provided."}
        u = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/signals/v1/private/signals/":
            res = [s for s in self.signals if s["source"] == q.get("source", s["source"])]
            return 200, {"count": len(res), "results": res}
        if u.path == "/signals/v1/private/status-updates":
            start = int(q.get("after") or 0)
            items = self.feed[start:start + min(int(q.get("limit", 100)), 500)]
            return 200, {"items": items, "next_cursor": str(start + len(items)) if items else None}
        return 404, {"detail": "Not found."}

    def post(self, h):
        if not self._authed(h):
            return 401, {"detail": "Authentication credentials were not provided."}
        if h.path != "/signals/v1/private/signals/":
            return 404, {"detail": "Not found."}
        if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return 415, {"detail": "Unsupported media type"}
        try:
            b = json.loads(h.body())
        except ValueError:
            return 400, {"detail": "JSON parse error"}
        errs = {}
        for k in ("text", "location", "category", "incident_date_start", "source"):
            if not b.get(k):
                errs[k] = ["This field is required."]
        g = (b.get("location") or {}).get("geometrie") or {}
        co = g.get("coordinates")
        if b.get("location") and not (g.get("type") == "Point" and isinstance(co, list) and len(co) == 2
                                      and -180 <= co[0] <= 180 and -90 <= co[1] <= 90):
            errs["location"] = ["geometrie must be a GeoJSON Point [lon, lat]"]
        m = CAT_RE.match(str((b.get("category") or {}).get("sub_category", "")))
        if b.get("category") and not (m and m.group(1) in SUBS):
            errs["category"] = ["Invalid hyperlink - Object does not exist."]
        if b.get("source") and b["source"] not in self.sources:
            errs["source"] = ["Invalid source given"]
        if errs:
            return 400, errs
        with self.lock:
            n = len(self.signals) + 1
            s = {"id": n, "id_display": f"SIG-{n}", "signal_id": str(uuid.uuid4()),
                 "status": {"state": "m"}, **b}
            self.signals.append(s)
        return 201, s

    def patch(self, h):
        """PATCH /signals/v1/private/signals/{id}: category (sub_category URL, text) and
        priority; the change is kept in the signal's history."""
        if not self._authed(h):
            return 401, {"detail": "Authentication credentials were not provided."}
        m = re.match(r"^/signals/v1/private/signals/([^/]+)$", h.path)
        s = next((s for s in self.signals if m and m.group(1) in (s["signal_id"], str(s["id"]))), None)
        if s is None:
            return 404, {"detail": "Not found."}
        try:
            b = json.loads(h.body())
        except ValueError:
            return 400, {"detail": "JSON parse error"}
        if "category" in b:
            c = CAT_RE.match(str(b["category"].get("sub_category", "")))
            if not (c and c.group(1) in SUBS):
                return 400, {"category": ["Invalid hyperlink - Object does not exist."]}
        with self.lock:
            s.setdefault("history", []).append(b)
            s.update({k: v for k, v in b.items() if k in ("category", "priority")})
        return 200, s

    def set_status(self, signal_id, status):
        self.feed.append({"signal_id": signal_id, "status": status, "changed_at": "2026-01-02T10:00:00Z",
                          "event_id": len(self.feed) + 1})
