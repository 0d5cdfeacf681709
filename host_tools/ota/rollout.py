"""Rollout of one signed bundle to a set of posts in waves: a canary share first, then the rest.

Each wave is offered at once and waited for until every post in it has a verdict
(confirmed, rolledBack, refused, failed) or the wave's time is up (a post without a
verdict counts as failed: "timeout"). When more than max_fail of a wave failed, the
rollout halts: the posts of later waves are never offered ("held"). The per-post
states are written to a JSON file after every change, so `lamppost-ops ota status`
shows them while a rollout runs and after it ended. docs/ota.md.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from host_tools.ota.bundle import Bundle
from host_tools.ota.server import TERMINAL, OtaServer


def waves(posts: list[str], canary_share: float, wave_size: int) -> list[list[str]]:
    """The posts in waves: ceil(canary_share * n) (at least 1) first, then wave_size at a time."""
    if not posts:
        return []
    if not 0 < canary_share <= 1 or wave_size < 1:
        raise ValueError("canary share must be in (0, 1] and the wave size at least 1")
    n = max(1, math.ceil(canary_share * len(posts)))
    out = [posts[:n]]
    rest = posts[n:]
    out += [rest[i:i + wave_size] for i in range(0, len(rest), wave_size)]
    return out


class Rollout:
    def __init__(self, server: OtaServer, bundle: Bundle, posts: list[str], state_file: Path,
                 canary_share: float = 0.1, wave_size: int = 50, max_fail: float = 0.2,
                 wave_timeout_s: float = 3600.0):
        if len(set(posts)) != len(posts):
            raise ValueError("a post is named twice")
        self.srv, self.bundle, self.file = server, bundle, Path(state_file)
        self.plan = waves(posts, canary_share, wave_size)
        self.max_fail = max_fail
        self.timeout = wave_timeout_s
        self.states = {p: {"state": "pending", "why": None, "wave": i}
                       for i, w in enumerate(self.plan) for p in w}
        self.result = {"version": bundle.version, "state": "running", "waves": []}
        self._write()

    def _write(self) -> None:
        d = dict(self.result, posts=self.states)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=1))
        os.replace(tmp, self.file)

    def _sync(self, wave: list[str], timed_out: bool = False) -> None:
        for p in wave:
            st = self.srv.state(p)
            if st is not None:
                self.states[p].update(state=st.state, why=st.why)
            if timed_out and self.states[p]["state"] not in TERMINAL:
                self.states[p].update(state="failed", why="timeout: no verdict within the wave's time")

    def run(self) -> dict:
        for i, wave in enumerate(self.plan):
            for p in wave:
                self.srv.offer(p, self.bundle)
            end = time.monotonic() + self.timeout
            while time.monotonic() < end:
                self._sync(wave)
                self._write()
                if all(self.states[p]["state"] in TERMINAL for p in wave):
                    break
                time.sleep(0.2)
            else:
                self._sync(wave, timed_out=True)
            failed = [p for p in wave if self.states[p]["state"] != "confirmed"]
            rate = len(failed) / len(wave)
            self.result["waves"].append({"wave": i, "posts": len(wave), "failed": len(failed),
                                         "failure_rate": round(rate, 3)})
            if rate > self.max_fail:
                self.result["state"] = "halted"
                self.result["why"] = (f"wave {i}: {len(failed)} of {len(wave)} failed "
                                      f"({rate:.0%} > {self.max_fail:.0%})")
                for later in self.plan[i + 1:]:
                    for p in later:
                        self.states[p]["state"] = "held"
                self._write()
                return dict(self.result, posts=self.states)
        self.result["state"] = "done"
        self._write()
        return dict(self.result, posts=self.states)


def load_status(state_file: Path) -> dict:
    return json.loads(Path(state_file).read_text())
