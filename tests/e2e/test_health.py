# SPDX-License-Identifier: MIT
"""Destination health (--unhealthy-after, --probe-interval, --recovery-spread):
a destination failing that many calls in a row gets one probe call at a time,
one per probe interval, the other due calls not made (no attempt counted);
when it answers again every message waiting on it is made due at once,
spread over --recovery-spread, instead of each waiting out its back-off.
Per-destination metrics: up/down, failures, latency."""
import time

from e2e_helpers import SUCCESS_BODY, msg_body, new_gid, stays, wait_for
from test_kafka import kafka, topic_name  # noqa: F401 (kafka is a fixture)
from test_metrics import parse, total

HEALTH = {"unhealthy_after": "3", "probe_interval": "1", "recovery_spread": "2"}


def dest_label(app):
    return "http://127.0.0.1:%d" % app.port


def up(r, app):
    s = parse(r.metrics())
    key = ("msgrelay_destination_up", '{destination="%s"}' % dest_label(app))
    return s.get(key)


def test_returning_destination_delivers_waiting_messages_within_seconds(app, relay):
    r = relay(dict(HEALTH, max_retry_interval="120"))
    app.set_default("/svc/back", 500, "down for maintenance")
    # each message backs off 70 s (+-20 %) after its first failure
    gids = [new_gid("back") for _ in range(50)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/back")], retry_interval=70))[0] == 200
    wait_for(lambda: up(r, app) == 0, 15, lambda: "the destination down: %r" % up(r, app))
    t_down = time.monotonic()
    failed_before = app.count("/svc/back")
    # while it is down it is probed, one message made due each --probe-interval
    wait_for(lambda: app.count("/svc/back") > failed_before, 10, "a probe call")

    app.set_default("/svc/back", 200, SUCCESS_BODY)
    t0 = time.monotonic()
    probe_window = int(t0 - t_down) + 1  # seconds the destination was down, probed once each

    def all_done():
        return all(r.state(g) == "succeed" for g in gids)
    wait_for(all_done, 12, lambda: "all 50 delivered: %r" % sorted(r.state(g) for g in gids))
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed
    # spread over --recovery-spread, not all in one instant
    ok_times = sorted(c.t for c in app.calls("/svc/back") if c.status == 200)
    assert len(ok_times) >= 50
    assert ok_times[-1] - ok_times[0] >= 0.5, ok_times[-1] - ok_times[0]
    assert "destination healthy again" in r.log_tail(2000)
    assert "messages waiting on a returning destination made due" in r.log_tail(2000)
    s = parse(r.metrics())
    assert up(r, app) == 1
    calls = app.calls("/svc/back")
    # each message was called at most once before the fall (their first attempts may all be in
    # flight together on a slow machine), and after it only the probes failed: one a second
    failed = [c for c in calls if c.status == 500]
    assert failed_before <= 50, failed_before
    probes = failed[failed_before:]
    assert len(probes) <= probe_window + 2, (len(probes), probe_window)
    assert total(s, "msgrelay_destination_failures_total",
                 destination=dest_label(app)) == len([c for c in calls if c.status == 500])
    assert total(s, "msgrelay_destination_latency_seconds_count",
                 destination=dest_label(app)) == len(calls)


def test_unhealthy_destination_gets_one_probe_at_a_time(app, relay):
    r = relay(dict(HEALTH, max_retry_interval="1"))
    app.set_default("/svc/slow", 500, "down", delay=0.3)
    gids = [new_gid("probe") for _ in range(20)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/slow")]))[0] == 200
    wait_for(lambda: up(r, app) == 0, 15, "the destination down")
    # the calls made before it was down end within their 0.3 s
    wait_for(lambda: app.inflight("/svc/slow") == 0, 5, "the calls before the fall ended")

    def attempts():
        return sum(r.query(g)["branches"][0].get("attempts") or 0 for g in gids
                   if r.query(g)["branches"])
    before = app.count("/svc/slow")
    attempts_before = attempts()
    stays(lambda: app.inflight("/svc/slow") <= 1, 3.0, "at most one call in flight")
    made = app.count("/svc/slow") - before
    # 20 messages retried every second would make 60 calls; probes are one a second
    assert 1 <= made <= 5, made
    # calls not made count no attempt: only the probes add attempts (one more may have been
    # recorded between the two reads)
    assert attempts() - attempts_before <= made + 1, (attempts(), attempts_before, made)
    assert all(r.state(g) == "submitted" for g in gids)


def test_health_off_with_zero(app, relay):
    r = relay(dict(HEALTH, unhealthy_after="0", max_retry_interval="1"))
    app.set_default("/svc/x", 500, "down")
    gid = new_gid("off")
    assert r.post("submit", msg_body(gid, [app.url("/svc/x")]))[0] == 200
    app.wait_calls("/svc/x", 5, timeout=15)
    assert up(r, app) == 1


def kafka_up(r, topic):
    key = ("msgrelay_destination_up", '{destination="kafka://%s"}' % topic)
    return parse(r.metrics()).get(key)


def test_returning_kafka_topic_delivers_waiting_messages_within_seconds(kafka, relay):
    topic = topic_name("flaky")
    k = kafka("--flaky-topic", topic)
    r = relay(dict(HEALTH, max_retry_interval="120"),
              extra_args=["--kafka-brokers", k.bootstrap,
                          "--kafka-property", "message.timeout.ms=1000"])
    k.topic_down()
    # failures one after another (each record times out before the next is produced) count
    # toward the topic's health; each message then backs off 70 s (+-20 %)
    gids = []
    for _ in range(3):
        g = new_gid("kdown")
        gids.append(g)
        assert r.post("submit", msg_body(g, ["kafka://" + topic], retry_interval=70))[0] == 200
        wait_for(lambda: (r.query(g)["branches"][0].get("attempts") or 0) >= 1, 15,
                 "the record of %s timed out" % g)
    wait_for(lambda: kafka_up(r, topic) == 0, 10,
             lambda: "the topic down: %r" % kafka_up(r, topic))
    # more messages for the down topic: not produced (no attempt), they wait in the store
    for _ in range(27):
        g = new_gid("kwait")
        gids.append(g)
        assert r.post("submit", msg_body(g, ["kafka://" + topic], retry_interval=70))[0] == 200
    stays(lambda: len([g for g in gids if r.state(g) == "succeed"]) == 0, 2.0, "nothing delivered")
    attempts = sum(r.query(g)["branches"][0].get("attempts") or 0 for g in gids)
    # the three that brought it down, plus at most a probe a second
    assert attempts <= 3 + 5, attempts

    k.topic_up()
    t0 = time.monotonic()

    def all_done():
        return all(r.state(g) == "succeed" for g in gids)
    wait_for(all_done, 15, lambda: "all 30 delivered: %r" % sorted(r.state(g) for g in gids))
    elapsed = time.monotonic() - t0
    assert elapsed < 12, elapsed
    recs = k.wait_records(topic, 30)
    assert {x["key"] for x in recs} == set(gids)
    assert "destination healthy again" in r.log_tail(4000)
    assert kafka_up(r, topic) == 1
    s = parse(r.metrics())
    assert total(s, "msgrelay_destination_failures_total",
                 destination="kafka://" + topic) >= 3


def with_credentials(url):
    """@url with user:password userinfo: the same destination, spelled differently."""
    return url.replace("http://", "http://relay:s3cret@", 1)


def test_returning_host_makes_back_checks_and_credentialed_steps_due_within_seconds(app, relay):
    r = relay(dict(HEALTH, max_retry_interval="120"))
    app.set_default("/svc/h", 500, "down")
    app.set_default("/q", 500, "down")
    step_url = with_credentials(app.url("/svc/h"))
    # failures one after another bring the host down; each message backs off 70 s
    submitted = []
    for _ in range(3):
        g = new_gid("cred")
        submitted.append(g)
        assert r.post("submit", msg_body(g, [step_url], retry_interval=70))[0] == 200
        wait_for(lambda: (r.query(g)["branches"][0].get("attempts") or 0) >= 1, 15,
                 "the call of %s failed" % g)
    wait_for(lambda: up(r, app) == 0, 10, lambda: "the host down: %r" % up(r, app))
    # prepared messages whose back-check goes to the same host (credentials, default
    # spelling aside): due after --timeout-to-fail, their back-checks are not made while it
    # is down (or made as its probe, which fails), and they wait out their 70 s back-off
    prepared = []
    for _ in range(10):
        g = new_gid("check")
        prepared.append(g)
        body = msg_body(g, [app.url("/svc/ok")], retry_interval=70,
                        query_prepared=with_credentials(app.url("/q")))
        assert r.post("prepare", body)[0] == 200
    stays(lambda: all(r.state(g) == "prepared" for g in prepared), 3.0, "all still prepared")

    app.set_default("/svc/h", 200, SUCCESS_BODY)
    app.set_default("/q", 200, SUCCESS_BODY)
    t0 = time.monotonic()
    everything = submitted + prepared

    def all_done():
        return all(r.state(g) == "succeed" for g in everything)
    wait_for(all_done, 15, lambda: "all 13 delivered: %r" % sorted(r.state(g) for g in everything))
    elapsed = time.monotonic() - t0
    assert elapsed < 12, elapsed
    assert app.count("/svc/ok") >= 10
    assert up(r, app) == 1
