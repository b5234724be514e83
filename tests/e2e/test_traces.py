# SPDX-License-Identifier: MIT
"""W3C Trace Context: the traceparent (and tracestate) of a prepare or submit is
stored with its message and sent on every call made for it (step calls,
back-check, Kafka records), each with the same trace id and flags and a new
parent id of its own. An invalid traceparent is dropped: no trace is invented.
Log lines about a traced message carry its trace id."""
import json
import re

from e2e_helpers import msg_body, new_gid, wait_for
from test_kafka import kafka, topic_name  # noqa: F401  (the kafka fixture)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TP = "00-%s-%s-01" % (TRACE_ID, PARENT)
TS = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
VALID = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def child_of(tp, want_trace=TRACE_ID, want_flags="01", parent=PARENT):
    """Assert @tp is a valid child: same trace id and flags, another non-zero parent id."""
    m = VALID.match(tp or "")
    assert m, "not a valid traceparent: %r" % tp
    assert m.group(1) == want_trace, tp
    assert m.group(3) == want_flags, tp
    assert m.group(2) != parent and m.group(2) != "0" * 16, tp
    return m.group(2)


def test_submit_trace_reaches_each_step_call_with_a_new_parent_id(app, relay):
    r = relay()
    gid = new_gid("tr")
    body = msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")])
    assert r.post("submit", body, headers={"traceparent": TP, "tracestate": TS})[0] == 200
    r.wait_state(gid, "succeed")
    calls = app.calls("/svc/a") + app.calls("/svc/b")
    assert len(calls) == 2
    spans = {child_of(c.headers.get("traceparent")) for c in calls}
    assert len(spans) == 2, spans  # one span per call
    assert all(c.headers.get("tracestate") == TS for c in calls)


def test_prepare_trace_reaches_the_back_check_and_the_steps(app, relay):
    r = relay()
    gid = new_gid("tr")
    tp = "00-%s-%s-00" % ("a" * 31 + "1", "b" * 16)
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"), timeout_to_fail=1)
    assert r.post("prepare", body, headers={"traceparent": tp})[0] == 200
    r.wait_state(gid, "succeed", timeout=15)
    qp = app.calls("/qp")
    assert len(qp) >= 1
    child_of(qp[0].headers.get("traceparent"), "a" * 31 + "1", "00", "b" * 16)
    assert "tracestate" not in qp[0].headers
    step = app.calls("/svc/a")[0]
    child_of(step.headers.get("traceparent"), "a" * 31 + "1", "00", "b" * 16)


def test_message_trace_replaces_branch_headers_own(app, relay):
    r = relay()
    gid = new_gid("tr")
    body = msg_body(gid, [app.url("/svc/a")],
                    branch_headers={"traceparent": "00-%s-%s-01" % ("1" * 32, "2" * 16),
                                    "X-Other": "kept"})
    assert r.post("submit", body, headers={"traceparent": TP})[0] == 200
    r.wait_state(gid, "succeed")
    c = app.calls("/svc/a")[0]
    child_of(c.headers.get("traceparent"))
    assert c.headers.get("x-other") == "kept"


def test_invalid_traceparents_are_dropped_and_no_trace_is_invented(app, relay):
    r = relay()
    bad = [
        "01-%s-%s-01" % (TRACE_ID, PARENT),              # version other than 00
        "00-%s-%s-01" % ("0" * 32, PARENT),              # all-zero trace id
        "00-%s-%s-01" % (TRACE_ID, "0" * 16),            # all-zero parent id
        "00-%s-%s-01" % (TRACE_ID.upper(), PARENT),      # upper-case hex
        "00-%s-%s-1" % (TRACE_ID, PARENT),               # short flags
        "00-%s-%s-01-extra" % (TRACE_ID, PARENT),        # trailing data
        "00-%s-%s" % (TRACE_ID, PARENT),                 # no flags
        "garbage",
    ]
    gids = []
    for tp in bad:
        gid = new_gid("trbad")
        gids.append(gid)
        body = msg_body(gid, [app.url("/svc/bad")])
        assert r.post("submit", body, headers={"traceparent": tp, "tracestate": TS})[0] == 200
    plain = new_gid("trnone")
    assert r.post("submit", msg_body(plain, [app.url("/svc/bad")]))[0] == 200
    good = new_gid("trgood")  # the control: a valid one is sent on
    assert r.post("submit", msg_body(good, [app.url("/svc/good")]),
                  headers={"traceparent": TP, "tracestate": TS})[0] == 200
    for gid in gids + [plain, good]:
        r.wait_state(gid, "succeed")
    calls = app.calls("/svc/bad")
    assert len(calls) == len(bad) + 1
    for c in calls:
        assert "traceparent" not in c.headers, c.headers
        assert "tracestate" not in c.headers, c.headers
    child_of(app.calls("/svc/good")[0].headers.get("traceparent"))


def test_over_long_tracestate_is_dropped_and_the_traceparent_kept(app, relay):
    r = relay()
    gid = new_gid("tr")
    long_state = ",".join("k%d=%s" % (i, "v" * 20) for i in range(30))  # > 512 bytes
    assert len(long_state) > 512
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")]),
                  headers={"traceparent": TP, "tracestate": long_state})[0] == 200
    r.wait_state(gid, "succeed")
    c = app.calls("/svc/a")[0]
    child_of(c.headers.get("traceparent"))
    assert "tracestate" not in c.headers


def test_kafka_record_carries_the_trace_as_headers(kafka, relay):  # noqa: F811
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    topic = topic_name()
    gid = new_gid("trk")
    assert r.post("submit", msg_body(gid, ["kafka://" + topic]),
                  headers={"traceparent": TP, "tracestate": TS})[0] == 200
    r.wait_state(gid, "succeed", timeout=20)
    rec = k.wait_records(topic, 1)[0]
    child_of(rec["headers"].get("traceparent"))
    assert rec["headers"].get("tracestate") == TS
    assert rec["headers"].get("gid") == gid


def test_log_lines_about_a_traced_message_carry_its_trace_id(app, relay):
    r = relay()
    traced = new_gid("trlog")
    plain = new_gid("trlog")
    app.queue("/svc/once", 500, "down")
    app.queue("/svc/once", 500, "down")
    assert r.post("submit", msg_body(traced, [app.url("/svc/once")], retry_interval=1),
                  headers={"traceparent": TP})[0] == 200
    assert r.post("submit", msg_body(plain, [app.url("/svc/once")], retry_interval=1))[0] == 200
    r.wait_state(traced, "succeed", timeout=15)
    r.wait_state(plain, "succeed", timeout=15)

    def lines_about(gid):
        out = []
        for line in r.log_tail(1000).splitlines():
            if line.startswith("{"):
                j = json.loads(line)
                if j.get("gid") == gid:
                    out.append(j)
        return out
    # the relay's lines on a pass over the message (the store's "message state changed"
    # lines name the gid only)
    relay_lines = ("delivery not finished", "message delivered")
    wait_for(lambda: len([j for j in lines_about(traced) if j["msg"] in relay_lines]) >= 2, 5,
             "two relay lines about %s" % traced)
    mine = [j for j in lines_about(traced) if j["msg"] in relay_lines]
    assert all(j.get("trace") == TRACE_ID for j in mine), mine
    other = [j for j in lines_about(plain) if j["msg"] in relay_lines]
    assert other and all("trace" not in j for j in other), other
