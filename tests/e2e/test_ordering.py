# SPDX-License-Identifier: MIT
"""Ordered delivery per key: of two messages with the same ordering_key, the later
submitted has no step called before the earlier one finished (succeed or failed);
other keys and unkeyed messages are not held up; the order holds across kill -9,
back-checks, redrive and forceStop."""
import random
import signal
import threading

from e2e_helpers import msg_body, new_gid, wait_for


# retries a second apart whatever the count, and no destination health pause: random 500s
# must not turn into long back-offs that make the test slow
FAST_RETRY = {"--retry-interval": "1", "--max-retry-interval": "1", "--unhealthy-after": "0"}


def submit_keyed(r, app, path, keys, per_key, prefix, key_field="top"):
    """Submit per_key messages on each key, round robin (each submit acknowledged before the
    next one on its key is sent); returns {key: [gid, ...]} in submit order."""
    order = {k: [] for k in keys}
    for i in range(per_key):
        for k in keys:
            g = new_gid("%s-%s-%03d" % (prefix, k, i))
            if key_field == "top":
                body = msg_body(g, [app.url(path)], ordering_key=k)
            else:
                body = msg_body(g, [app.url(path)], custom_data='{"ordering_key":"%s"}' % k)
            status, data = r.post("submit", body)
            assert status == 200, (status, data)
            order[k].append(g)
    return order


def check_order(app, path, order):
    """Every call of a message comes after the successful call of its predecessor on its key
    (the sink records arrival order; the relay starts a message only once its predecessor's
    success is committed, which is after the sink answered it). Returns the number of calls."""
    calls = app.calls(path)
    first = {}
    ok = {}
    for i, c in enumerate(calls):
        g = c.params.get("gid")
        first.setdefault(g, i)
        if c.status == 200:
            ok.setdefault(g, i)
    for k, gids in order.items():
        for prev, cur in zip(gids, gids[1:]):
            assert prev in ok, "%s never succeeded" % prev
            assert cur in first, "%s never called" % cur
            assert first[cur] > ok[prev], (
                "key %s: %s called (call #%d) before its predecessor %s succeeded (call #%d)"
                % (k, cur, first[cur], prev, ok[prev]))
    return len(calls)


def queue_random_500s(app, path, n, share, seed):
    rnd = random.Random(seed)
    for _ in range(n):
        app.queue(path, status=500 if rnd.random() < share else 200,
                  body="retry" if False else "SUCCESS")


def wait_all(r, gids, state, timeout):
    pending = set(gids)

    def done():
        for g in list(pending):
            if r.state(g) == state:
                pending.discard(g)
        return not pending
    wait_for(done, timeout, lambda: "%d message(s) to be %s, e.g. %r" % (
        len(pending), state, [(g, r.query(g)["transaction"]) for g in sorted(pending)[:3]]))


def test_many_keys_through_random_500s_keep_each_keys_order(app, relay):
    r = relay(**FAST_RETRY)
    path = "/svc/ordered"
    queue_random_500s(app, path, 3000, 0.3, seed=15)
    keys = ["k%02d" % i for i in range(50)]
    order = submit_keyed(r, app, path, keys, 20, "rnd")
    wait_all(r, [g for gs in order.values() for g in gs], "succeed", timeout=120)
    n = check_order(app, path, order)
    assert n > 1000, "the sink answered no 500 at all (%d calls)" % n
