"""A generic webhook receiver: JSON only, HMAC-SHA256 of the body in X-Lamppost-Signature
(401 if wrong), Idempotency-Key required (400 without) and honoured (the same key answers
the first ticket again)."""
from __future__ import annotations

import hashlib
import hmac
import json

from .base import App


class WebhookServer(App):
    def __init__(self, secret="s3cret", prefix="T"):
        super().__init__()
        self.secret = secret.encode()
        self.prefix = prefix  # of the ticket ids it hands out: two receivers in one test differ
        self.tickets: dict[str, dict] = {}

    def get(self, h):
        return 405, {"error": "POST only"}

    def post(self, h):
        body = h.body()
        if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return 415, {"error": "application/json required"}
        want = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, h.headers.get("X-Lamppost-Signature", "")):
            return 401, {"error": "bad signature"}
        key = h.headers.get("Idempotency-Key")
        if not key:
            return 400, {"error": "Idempotency-Key required"}
        with self.lock:
            if key not in self.tickets:
                self.tickets[key] = {"id": f"{self.prefix}{len(self.tickets) + 1}", "body": json.loads(body)}
            return 200, {"id": self.tickets[key]["id"]}
