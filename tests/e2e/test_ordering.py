# SPDX-License-Identifier: MIT
"""Ordered delivery per key: of two messages with the same ordering_key, the later
submitted has no step called before the earlier one finished (succeed or failed);
other keys and unkeyed messages are not held up; the order holds across kill -9,
back-checks, redrive and forceStop."""
import random
import signal
import threading

from e2e_helpers import msg_body, new_gid, wait_for
from test_kafka import kafka, topic_name  # noqa: F401 (kafka: the mock cluster fixture)


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
        if rnd.random() < share:
            app.queue(path, status=500, body="retry")
        else:
            app.queue(path)


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


def first_call_index(app, path, gid):
    for i, c in enumerate(app.calls(path)):
        if c.params.get("gid") == gid:
            return i
    return None


def test_kill9_mid_run_keeps_each_keys_order(app, relay):
    r = relay(**FAST_RETRY)
    path = "/svc/ordered"
    queue_random_500s(app, path, 1500, 0.3, seed=9)
    keys = ["c%02d" % i for i in range(20)]
    order = submit_keyed(r, app, path, keys, 10, "k9")
    wait_for(lambda: app.count(path) >= 60, 20, "some calls before the kill")
    r.kill(signal.SIGKILL)
    assert not r.alive()
    r.restart()
    wait_all(r, [g for gs in order.values() for g in gs], "succeed", timeout=120)
    check_order(app, path, order)


def test_a_stuck_key_holds_up_neither_other_keys_nor_unkeyed_messages(app, relay):
    r = relay(**FAST_RETRY)
    app.set_default("/svc/down", 500, "down")
    head = new_gid("stuck")
    assert r.post("submit", msg_body(head, [app.url("/svc/down")], ordering_key="stuck"))[0] == 200
    behind = new_gid("stuck")
    assert r.post("submit", msg_body(behind, [app.url("/svc/ok")], ordering_key="stuck"))[0] == 200
    order = submit_keyed(r, app, "/svc/ok", ["free%d" % i for i in range(5)], 4, "free")
    unkeyed = [new_gid("plain") for _ in range(10)]
    for g in unkeyed:
        assert r.post("submit", msg_body(g, [app.url("/svc/ok")]))[0] == 200
    wait_all(r, unkeyed + [g for gs in order.values() for g in gs], "succeed", timeout=30)
    check_order(app, "/svc/ok", order)
    app.wait_calls("/svc/down", 2)  # the head is retried meanwhile
    assert first_call_index(app, "/svc/ok", behind) is None, "called behind a failing head"
    t = r.query(behind)["transaction"]
    assert t["status"] == "submitted"
    assert t["ordering_key"] == "stuck" and t["ordering_position"] == 2
    assert t["waits_for"] == head
    # the head recovers: the one behind it goes at once, after it
    app.set_default("/svc/down", 200, "SUCCESS")
    r.wait_state(behind, "succeed", timeout=15)
    assert app.calls("/svc/ok")[first_call_index(app, "/svc/ok", behind)].t >= \
        [c for c in app.calls("/svc/down") if c.status == 200][0].t


def test_the_key_in_custom_data_orders_too_and_query_shows_the_place(app, relay):
    r = relay(**FAST_RETRY)
    app.set_default("/svc/down", 500, "down")
    a, b = new_gid("cd"), new_gid("cd")
    assert r.post("submit", msg_body(a, [app.url("/svc/down")],
                                     custom_data='{"ordering_key":"acct-7"}'))[0] == 200
    assert r.post("submit", msg_body(b, [app.url("/svc/ok")], ordering_key="acct-7",
                                     custom_data='{"delay":0,"ordering_key":"acct-7"}'))[0] == 200
    app.wait_calls("/svc/down", 2)
    ta, tb = r.query(a)["transaction"], r.query(b)["transaction"]
    assert (ta["ordering_key"], ta["ordering_position"], "waits_for" in ta) == ("acct-7", 1, False)
    assert (tb["ordering_key"], tb["ordering_position"], tb["waits_for"]) == ("acct-7", 2, a)
    assert app.count("/svc/ok") == 0
    # a forceStop of the head releases its key: the next one goes
    assert r.post("forceStop", {"gid": a})[0] == 200
    r.wait_state(b, "succeed", timeout=15)
    assert "waits_for" not in r.query(b)["transaction"]


def test_a_parked_head_holds_its_key_until_redriven(app, relay):
    r = relay({"--retry-limit": "1", "--max-retry-interval": "1", "--unhealthy-after": "0"})
    app.set_default("/svc/bad", 500, "down")
    a, b = new_gid("pk"), new_gid("pk")
    assert r.post("submit", msg_body(a, [app.url("/svc/bad")], ordering_key="p"))[0] == 200
    assert r.post("submit", msg_body(b, [app.url("/svc/ok")], ordering_key="p"))[0] == 200
    r.wait_state(a, "parked", timeout=15)
    assert r.query(b)["transaction"]["waits_for"] == a
    app.set_default("/svc/bad", 200, "SUCCESS")
    status, _, _ = r.request("POST", "/api/msgrelay/redrive", body={"gid": a})
    assert status == 200
    r.wait_state(b, "succeed", timeout=15)
    assert app.calls("/svc/ok")[0].t >= [c for c in app.calls("/svc/bad") if c.status == 200][0].t


def test_a_forcestop_of_a_parked_head_releases_its_key(app, relay):
    r = relay({"--retry-limit": "1", "--max-retry-interval": "1", "--unhealthy-after": "0"})
    app.set_default("/svc/bad", 500, "down")
    a, b = new_gid("fs"), new_gid("fs")
    assert r.post("submit", msg_body(a, [app.url("/svc/bad")], ordering_key="f"))[0] == 200
    assert r.post("submit", msg_body(b, [app.url("/svc/ok")], ordering_key="f"))[0] == 200
    r.wait_state(a, "parked", timeout=15)
    assert app.count("/svc/ok") == 0
    assert r.post("forceStop", {"gid": a})[0] == 200
    r.wait_state(b, "succeed", timeout=15)
    assert r.state(a) == "failed"


def test_a_prepared_message_takes_its_place_when_its_back_check_commits_it(app, relay):
    r = relay(**FAST_RETRY)
    app.set_default("/svc/down", 500, "down")
    app.set_default("/qp", 200, "SUCCESS")
    early = new_gid("bc")
    # prepared first, but committed (by its back-check) only after `head` is submitted
    assert r.post("prepare", msg_body(early, [app.url("/svc/late")], ordering_key="bc",
                                      query_prepared=app.url("/qp"), timeout_to_fail=1))[0] == 200
    head = new_gid("bc")
    assert r.post("submit", msg_body(head, [app.url("/svc/down")], ordering_key="bc"))[0] == 200
    wait_for(lambda: r.state(early) == "submitted", 15, "the back-check to commit it")
    t = r.query(early)["transaction"]
    assert (t["ordering_position"], t["waits_for"]) == (2, head)
    assert app.count("/svc/late") == 0
    app.set_default("/svc/down", 200, "SUCCESS")
    r.wait_state(early, "succeed", timeout=15)
    assert app.calls("/svc/late")[0].t >= [c for c in app.calls("/svc/down") if c.status == 200][0].t


def test_ordering_key_is_checked(relay):
    r = relay()
    for bad, why in [("x" * 129, "longer than 128 bytes"), ("a\tb", "control characters"),
                     (7, "must be a string")]:
        status, data = r.post("submit", msg_body(new_gid("v"), ["http://127.0.0.1:9/x"],
                                                 ordering_key=bad))
        assert status == 400 and why in data["message"], (bad, status, data)
    status, data = r.post("submit", msg_body(new_gid("v"), ["http://127.0.0.1:9/x"],
                                             ordering_key="a",
                                             custom_data='{"ordering_key":"b"}'))
    assert status == 400 and "differs" in data["message"], data
    assert r.post("submit", msg_body(new_gid("v"), ["http://127.0.0.1:9/x"],
                                     ordering_key="é" * 64))[0] == 200


def three_relays_one_killed(app, relay, uri):
    """30 keys x 10 messages submitted round robin to three relays sharing the database at
    @uri, through random 500s; the second relay is SIGKILLed halfway: its heads pass on at
    lease expiry, and no key's order is broken."""
    path = "/svc/ordered"
    queue_random_500s(app, path, 1200, 0.2, seed=3)
    flags = dict(store=uri, lease=3, request_timeout=1, retry_interval=1, max_retry_interval=1,
                 unhealthy_after=0, poll_interval_ms=100, claim_batch=32)
    relays = [relay(relay_id="r%d" % i, **flags) for i in range(3)]
    keys = ["m%02d" % i for i in range(30)]
    order = {k: [] for k in keys}
    for i in range(10):
        if i == 5:
            relays[1].kill(signal.SIGKILL)
        for n, k in enumerate(keys):
            g = new_gid("%s-%02d" % (k, i))
            for j in range(3):
                r = relays[(n + i + j) % 3]
                try:
                    status, data = r.post("submit", msg_body(g, [app.url(path)], ordering_key=k),
                                          timeout=10)
                except OSError:
                    continue
                assert status == 200, (status, data)
                order[k].append(g)
                break
            else:
                raise AssertionError("no relay took %s" % g)
    wait_all(relays[0], [g for gs in order.values() for g in gs], "succeed", timeout=120)
    check_order(app, path, order)
    assert relays[0].alive() and relays[2].alive()


def test_three_relays_on_mariadb_with_one_killed_keep_each_keys_order(app, relay, mariadb):
    """three_relays_one_killed() on MariaDB."""
    from test_mysql import fresh_uri
    three_relays_one_killed(app, relay, fresh_uri(mariadb, "e2e_order_three_relays"))


def test_three_relays_on_postgres_with_one_killed_keep_each_keys_order(app, relay, postgres):
    """three_relays_one_killed() on PostgreSQL."""
    from test_mysql import fresh_uri
    three_relays_one_killed(app, relay, fresh_uri(postgres, "e2e_order_three_relays"))


def test_kafka_records_are_keyed_by_the_ordering_key_unless_the_url_names_one(kafka, relay):
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    topic = topic_name()
    a, b = new_gid("kk"), new_gid("kk")
    assert r.post("submit", msg_body(a, ["kafka://" + topic, "kafka://%s?key=x" % topic],
                                     ordering_key="acct-9"))[0] == 200
    assert r.post("submit", msg_body(b, ["kafka://" + topic], ordering_key="acct-9"))[0] == 200
    recs = k.wait_records(topic, 3)
    by = {(x["headers"]["gid"], x["headers"]["branch_id"]): x for x in recs}
    assert by[(a, "01")]["key"] == "acct-9" and by[(a, "02")]["key"] == "x"
    assert by[(b, "01")]["key"] == "acct-9"
    # one key, one partition: b's record comes after a's
    assert by[(a, "01")]["partition"] == by[(b, "01")]["partition"]
    assert by[(a, "01")]["offset"] < by[(b, "01")]["offset"]
