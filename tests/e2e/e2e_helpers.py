# SPDX-License-Identifier: MIT
"""Small helpers shared by the end-to-end tests (standard library only).

Synchronisation is always "poll with a deadline" (wait_for); the only other
use of time is observing that something does NOT happen for a while (stays).
"""
import json
import re
import time
import uuid
from datetime import datetime, timezone

POLL = 0.03  # seconds between two looks at a condition

SUCCESS_BODY = {"dtm_result": "SUCCESS"}

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def wait_for(predicate, timeout, what="condition", interval=POLL):
    """Poll predicate() until it returns something truthy; return that value.

    Raises AssertionError after @timeout seconds. @what may be a string or a
    callable returning a string (evaluated only on failure, for diagnostics).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, desc))
        time.sleep(interval)


def stays(predicate, duration, what="condition", interval=POLL):
    """Assert predicate() stays truthy for @duration seconds (an observation window)."""
    deadline = time.monotonic() + duration
    while True:
        if not predicate():
            desc = what() if callable(what) else what
            raise AssertionError("%s stopped holding" % desc)
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def new_gid(prefix="g"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def msg_body(gid, actions, payloads=None, **extra):
    """A DTM msg request body: one step per action URL, payload i = payloads[i]."""
    if payloads is None:
        payloads = [json.dumps({"gid": gid, "step": i + 1}) for i in range(len(actions))]
    body = {
        "gid": gid,
        "trans_type": "msg",
        "steps": [{"action": a} for a in actions],
        "payloads": payloads,
    }
    body.update(extra)
    return body


def parse_time(s):
    """Parse an RFC 3339 answer time into an aware datetime (asserting its format)."""
    assert isinstance(s, str) and RFC3339.match(s), "not an RFC 3339 time: %r" % (s,)
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def utcnow():
    return datetime.now(timezone.utc)


def branch_states(q):
    return [b.get("status") for b in (q.get("branches") or [])]
