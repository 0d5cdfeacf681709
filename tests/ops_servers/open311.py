"""Open311 GeoReport v2 (JSON format) as the spec documents it: GET services.json,
POST requests.json (form-encoded; api_key, service_code and a location required; errors as
[{code, description}] with 400/403/404), GET requests.json (with the comma-delimited
service_request_id query), GET requests/{id}.json."""
from __future__ import annotations

import re
import urllib.parse

from .base import App

SERVICES = [{"service_code": "001", "service_name": "Street light out", "metadata": True,
             "type": "realtime", "keywords": "lighting", "group": "street"},
            {"service_code": "002", "service_name": "Street lights out (supply)", "metadata": False,
             "type": "realtime", "keywords": "lighting", "group": "street"}]


class Open311Server(App):
    def __init__(self, api_key="k3y", jurisdiction="houten.nl"):
        super().__init__()
        self.api_key, self.jurisdiction = api_key, jurisdiction
        self.requests: list[dict] = []
        # the spec's multi-id query: "yes"; "ignored": a server that answers its newest `page`
        # requests (the spec leaves the page size to the server); "refused": 400 to it
        self.multi_id, self.page = "yes", 1000
        self.seq = 1  # the next service_request_id

    @staticmethod
    def err(code, status, text):
        return status, [{"code": code, "description": text}]

    def get(self, h):
        u = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/services.json":
            return 200, SERVICES
        if u.path == "/requests.json":
            if q.get("start_date") and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", q["start_date"]):
                return self.err(400, 400, "start_date must be w3c datetime")
            if "service_request_id" in q and self.multi_id == "refused":
                return self.err(400, 400, "unknown parameter service_request_id")
            if "service_request_id" in q and self.multi_id == "yes":  # comma-delimited; overrides the rest
                ids = q["service_request_id"].split(",")
                return 200, [self._public(r) for r in self.requests if r["service_request_id"] in ids]
            return 200, [self._public(r) for r in self.requests][-self.page:]
        if u.path.startswith("/requests/") and u.path.endswith(".json"):
            rid = u.path[len("/requests/"):-5]
            for r in self.requests:
                if r["service_request_id"] == rid:
                    return 200, [self._public(r)]
            return self.err(404, 404, f"no request {rid}")
        return self.err(404, 404, "not found")

    @staticmethod
    def _public(r):
        return {k: v for k, v in r.items() if k != "attributes"}

    def post(self, h):
        if h.path != "/requests.json":
            return self.err(404, 404, "not found")
        if h.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return self.err(400, 400, "form-encoded body required")
        f = urllib.parse.parse_qs(h.body().decode(), keep_blank_values=True)
        one = {k: v[0] for k, v in f.items()}
        if one.get("api_key") != self.api_key:
            return self.err(403, 403, "invalid api_key")
        if self.jurisdiction and one.get("jurisdiction_id") != self.jurisdiction:
            return self.err(404, 404, "jurisdiction_id not found")
        if one.get("service_code") not in {s["service_code"] for s in SERVICES}:
            return self.err(400, 400, "service_code missing or not found")
        if not (("lat" in one and "long" in one) or "address_string" in one or "address_id" in one):
            return self.err(400, 400, "lat/long, address_string or address_id required")
        try:
            if "lat" in one:
                float(one["lat"]), float(one["long"])
        except ValueError:
            return self.err(400, 400, "lat/long must be numbers")
        with self.lock:
            rid, self.seq = str(self.seq), self.seq + 1
            self.requests.append({
                "service_request_id": rid, "status": "open", "status_notes": None,
                "service_code": one["service_code"], "description": one.get("description", ""),
                "lat": float(one.get("lat", 0)), "long": float(one.get("long", 0)),
                "requested_datetime": "2026-01-01T00:00:00Z",
                "attributes": {k[10:-1]: v for k, v in one.items() if k.startswith("attribute[")}})
        return 201, [{"service_request_id": rid, "service_notice": "", "account_id": None}]

    def delete_request(self, rid):
        """Gone at the contractor (merged or withdrawn there): requests/{rid}.json is a 404."""
        self.requests = [r for r in self.requests if r["service_request_id"] != rid]

    def close_request(self, rid, notes="repaired"):
        for r in self.requests:
            if r["service_request_id"] == rid:
                r["status"], r["status_notes"] = "closed", notes
