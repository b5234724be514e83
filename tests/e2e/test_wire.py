# SPDX-License-Identifier: MIT
"""Wire details and edge cases real clients hit: keep-alive, missing
Content-Type, chunked bodies, gids that need URL encoding, many steps, big and
odd payloads, and racing requests for one gid."""
import http.client
import json
import threading
import time
import urllib.parse

import pytest

from e2e_helpers import branch_states, msg_body, new_gid, stays, wait_for

OK = {"dtm_result": "SUCCESS"}


def raw_request(r, method, path, body=None, headers=None, chunked=False, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", r.port, timeout=15)
    try:
        if chunked:
            conn.putrequest(method, path)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(body), 100):
                piece = body[i:i + 100]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data.decode("utf-8", "replace")
    finally:
        if own:
            conn.close()


def test_keep_alive_connection_serves_many_requests(app, relay):
    r = relay()
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=15)
    try:
        gids = [new_gid("ka") for _ in range(10)]
        for g in gids:
            body = json.dumps(msg_body(g, [app.url("/svc/a")])).encode()
            assert raw_request(r, "POST", "/api/dtmsvr/submit", body,
                               {"Content-Type": "application/json"}, conn=conn) == (200, OK)
            status, q = raw_request(r, "GET", "/api/dtmsvr/query?gid=" + g, conn=conn)
            assert status == 200 and q["transaction"]["gid"] == g
    finally:
        conn.close()
    for g in gids:
        r.wait_state(g, "succeed")


def test_body_without_content_type_is_parsed(app, relay):
    r = relay()
    gid = new_gid("noct")
    body = json.dumps(msg_body(gid, [app.url("/svc/a")])).encode()
    assert raw_request(r, "POST", "/api/dtmsvr/submit", body) == (200, OK)
    r.wait_state(gid, "succeed")


def test_chunked_body_is_accepted_and_limited(app, relay):
    r = relay(max_body=1024)
    gid = new_gid("chunk")
    body = json.dumps(msg_body(gid, [app.url("/svc/a")])).encode()
    assert raw_request(r, "POST", "/api/dtmsvr/submit", body,
                       {"Content-Type": "application/json"}, chunked=True) == (200, OK)
    r.wait_state(gid, "succeed")
    big = new_gid("chunkbig")
    body = json.dumps(msg_body(big, [app.url("/svc/a")], ['"%s"' % ("x" * 3000)])).encode()
    status, data = raw_request(r, "POST", "/api/dtmsvr/submit", body,
                               {"Content-Type": "application/json"}, chunked=True)
    assert status == 400 and data.get("message", "").startswith("body:"), (status, data)
    assert r.query(big)["transaction"] is None


def test_gid_with_url_special_characters_round_trips(app, relay):
    r = relay()
    gid = "ord+1=a:b@c.d_" + new_gid("x")   # '+' and '=' must be percent-encoded on the wire
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=1)) == (200, OK)
    q = r.query(gid)
    assert q["transaction"]["gid"] == gid
    bc = app.wait_calls("/qp", 1, timeout=6)[0]
    assert bc.params.get("gid") == gid, "back-check gid garbled: %r" % bc.raw_query
    step = app.wait_calls("/svc/a", 1, timeout=6)[0]
    assert step.params.get("gid") == gid, "step gid garbled: %r" % step.raw_query
    assert step.params.get("branch_id") == "01" and step.params.get("op") == "action", step.raw_query
    r.wait_state(gid, "succeed")
    seen = [t["gid"] for t in r.all()["transactions"]]
    assert seen == [gid]
    unknown = "zz+1=q:" + new_gid("x")
    status, data = r.post("abort", {"gid": unknown, "trans_type": "msg"})
    assert (status, data) == (500, {"message": "no TransGlobal with gid: %s found" % unknown})


def test_many_steps_are_delivered_in_order_with_two_digit_branch_ids(app, relay):
    r = relay()
    gid = new_gid("many")
    n = 12
    actions = [app.url("/svc/s%02d" % (i + 1)) for i in range(n)]
    assert r.post("submit", msg_body(gid, actions)) == (200, OK)
    q = r.wait_state(gid, "succeed")
    calls = sorted(app.calls(), key=lambda c: c.t)
    assert [c.path for c in calls] == ["/svc/s%02d" % (i + 1) for i in range(n)]
    assert [c.params["branch_id"] for c in calls] == ["%02d" % (i + 1) for i in range(n)]
    for a, b in zip(calls, calls[1:]):
        assert b.t >= a.t_end, "sequential steps overlapped: %r %r" % (a, b)
    assert [b["branch_id"] for b in q["branches"]] == ["%02d" % (i + 1) for i in range(n)]
    assert branch_states(q) == ["succeed"] * n


def test_big_payload_is_delivered_verbatim(app, relay):
    r = relay()
    gid = new_gid("big")
    # ~200 KB of payload; the request body stays under the default 1 MiB limit
    payload = json.dumps({"blob": "\u00e9x" * 60000, "n": list(range(1000))}, ensure_ascii=False)
    assert len(payload.encode()) > 150000
    assert r.post("submit", msg_body(gid, [app.url("/svc/big")], [payload])) == (200, OK)
    c = app.wait_calls("/svc/big", 1, timeout=10)[0]
    assert c.body == payload.encode("utf-8"), "big payload altered (%d vs %d bytes)" % (
        len(c.body), len(payload.encode()))
    r.wait_state(gid, "succeed")


def test_payload_with_nul_is_delivered_whole_or_rejected(app, relay):
    r = relay()
    gid = new_gid("nul")
    payload = 'before\u0000after'
    status, data = r.post("submit", msg_body(gid, [app.url("/svc/nul")], [payload]))
    # "\u0000" is valid JSON (RFC 8259); DTM delivers it verbatim
    if status == 400:  # refusing is fine, as long as it names the field (not "body: not valid JSON")
        assert data.get("message", "").startswith("payloads"), data
        assert r.query(gid)["transaction"] is None
        return
    assert status == 200, (status, data)
    c = app.wait_calls("/svc/nul", 1)[0]
    assert c.body == b"before\x00after", "payload truncated at NUL: %r" % c.body


def test_non_json_and_empty_payloads_are_delivered_verbatim(app, relay):
    r = relay()
    gid = new_gid("odd")
    payloads = ["not json at all", "null", "[1,2]"]
    actions = [app.url("/svc/p%d" % i) for i in range(len(payloads))]
    assert r.post("submit", msg_body(gid, actions, payloads)) == (200, OK)
    r.wait_state(gid, "succeed")
    for i, p in enumerate(payloads):
        assert app.calls("/svc/p%d" % i)[0].body == p.encode()


def test_submit_of_prepared_uses_the_stored_steps(app, relay):
    r = relay()
    gid = new_gid("stored")
    assert r.post("prepare", msg_body(gid, [app.url("/svc/stored")], ['{"v":"prepare"}'],
                                      query_prepared=app.url("/qp"))) == (200, OK)
    assert r.post("submit", msg_body(gid, [app.url("/svc/other")], ['{"v":"submit"}'])) == (200, OK)
    r.wait_state(gid, "succeed")
    assert [c.body for c in app.calls("/svc/stored")] == [b'{"v":"prepare"}']
    assert app.count("/svc/other") == 0


def test_abort_needs_only_the_gid(app, relay):
    r = relay()
    gid = new_gid("abort")
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"))) == (200, OK)
    assert r.post("abort", {"gid": gid}) == (200, OK)
    assert r.state(gid) == "failed"


@pytest.mark.parametrize("route", ["submit", "prepare"])
def test_racing_requests_for_one_new_gid_store_one_message(app, relay, route):
    r = relay()
    gid = new_gid("race")
    n = 16
    results = [None] * n
    go = threading.Barrier(n)

    def one(i):
        body = msg_body(gid, [app.url("/svc/race%d" % i)], ['{"i":%d}' % i])
        go.wait()
        results[i] = r.post(route, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    def fine(x):
        if x == (200, OK):
            return True
        # a submit that lands after the first one's delivery finished is refused, correctly
        return (route == "submit" and x[0] == 409
                and "current status 'succeed'" in x[1].get("message", ""))
    bad = [x for x in results if not fine(x)]
    assert not bad, "racing %s of one gid: %r" % (route, bad)
    assert results.count((200, OK)) >= 1
    q = r.query(gid)
    assert len(q["branches"]) == 1, "one message, one step: %r" % q["branches"]
    winner = q["branches"][0]["url"]
    assert [t["gid"] for t in r.all()["transactions"]] == [gid]
    if route == "submit":
        r.wait_state(gid, "succeed")
        called = [c.path for c in app.calls()]
        assert called and set(app.url(p) for p in called) == {winner}, \
            "only the stored step is delivered: %r (stored %s)" % (called, winner)
    else:
        assert q["transaction"]["status"] == "prepared"
        stays(lambda: app.count() == 0, 0.3, "nothing delivered for a prepared message")


# gids as DTM takes them: anything but ';' and control characters, UTF-8, at most 128 bytes
ODD_GIDS = ["a/b/c", "a#frag", "with space", "a+b", "100%", "what?x=1", "a&b=c", "caf\u00e9",
            "\u6f22\u5b57", "\U0001F680go", "\u00e9" * 64]


def test_gids_as_dtm_takes_them_travel_intact(app, relay):
    r = relay()
    tag = new_gid("")[1:]
    gids = [g if len(g.encode()) >= 128 else g + tag for g in ODD_GIDS]
    assert len(gids[-1].encode()) == 128
    for i, gid in enumerate(gids):
        body = msg_body(gid, [app.url("/svc/g%d" % i)], query_prepared=app.url("/qp%d" % i),
                        timeout_to_fail=1)
        assert r.post("prepare", body) == (200, OK), gid
    for i, gid in enumerate(gids):
        q = r.wait_state(gid, "succeed", timeout=20)
        assert q["transaction"]["gid"] == gid
        bc = app.calls("/qp%d" % i)[0]
        assert bc.params.get("gid") == gid, "back-check gid garbled: %r" % bc.raw_query
        step = app.calls("/svc/g%d" % i)[0]
        assert step.params.get("gid") == gid, "step gid garbled: %r" % step.raw_query
        assert [t["gid"] for t in r.all(gid=gid)["transactions"]] == [gid]
    listed = {t["gid"] for t in r.all(limit=100)["transactions"]}
    assert set(gids) <= listed
    # every log line stays one JSON object, and the lines about a message name its gid exactly
    logged = set()
    for line in r.log_tail(5000).splitlines():
        if line.startswith("{"):
            logged.add(json.loads(line).get("gid"))
    assert set(gids) <= logged, set(gids) - logged


def test_gid_limits_and_refusals(app, relay):
    r = relay()
    for bad in ["\u00e9" * 64 + "x", "a;b", "a\nb", "a\rb", "a\tb", "a\u0085b"]:
        status, data = r.post("submit", msg_body(bad, [app.url("/svc/a")]))
        assert status == 400 and data["message"].startswith("gid:"), (bad, status, data)
    good = "\u00e9" * 64
    assert r.post("submit", msg_body(good, [app.url("/svc/a")])) == (200, OK)
    r.wait_state(good, "succeed")


def test_query_string_gid_is_decoded_as_dtm_decodes_it(app, relay):
    # Go's query parsing (and so DTM's) reads a raw '+' as a space; %2B is a '+'
    r = relay()
    tag = new_gid("")[1:]
    plus, space = "p+q" + tag, "p q" + tag
    for gid in (plus, space):
        assert r.post("submit", msg_body(gid, [app.url("/svc/a")])) == (200, OK)
    for raw, want in (("p+q" + tag, space), ("p%2Bq" + tag, plus), ("p%20q" + tag, space)):
        status, q = raw_request(r, "GET", "/api/dtmsvr/query?gid=" + raw)
        assert status == 200 and q["transaction"]["gid"] == want, (raw, q)
        status, a = raw_request(r, "GET", "/api/dtmsvr/all?gid=" + raw)
        assert status == 200 and [t["gid"] for t in a["transactions"]] == [want], (raw, a)


# ---- wire details as DTM has them ----

def test_empty_action_is_a_step_that_succeeds_without_a_call(app, relay):
    r = relay()
    gid = new_gid("noact")
    body = {"gid": gid, "trans_type": "msg", "steps": [{"action": ""}, {"action": app.url("/svc/b")}],
            "payloads": ["{}", '{"b":1}']}
    assert r.post("submit", body) == (200, OK)
    q = r.wait_state(gid, "succeed")
    assert branch_states(q) == ["succeed", "succeed"]
    assert app.count() == 1 and app.calls("/svc/b")[0].params["branch_id"] == "02"


def test_legacy_step_data_is_the_payload(app, relay):
    r = relay()
    gid = new_gid("legacy")
    body = {"gid": gid, "trans_type": "msg",
            "steps": [{"action": app.url("/svc/a"), "data": '{"old":1}'},
                      {"action": app.url("/svc/b"), "data": '{"old":2}'}]}
    assert r.post("submit", body) == (200, OK)
    r.wait_state(gid, "succeed")
    assert app.calls("/svc/a")[0].body == b'{"old":1}'
    assert app.calls("/svc/b")[0].body == b'{"old":2}'


def test_empty_payload_is_sent_as_dtm_sends_it(app, relay):
    # DTM's client POSTs a payload and GETs without one, Content-Type still JSON
    r = relay()
    gid = new_gid("emptyp")
    assert r.post("submit", msg_body(gid, [app.url("/svc/e")], [""])) == (200, OK)
    r.wait_state(gid, "succeed")
    c = app.calls("/svc/e")[0]
    assert c.method == "GET" and c.body == b"", c
    assert c.headers.get("content-type") == "application/json"
    assert c.params["gid"] == gid and c.params["op"] == "action"


def test_query_kv_without_a_key_lists_the_category(app, relay):
    r = relay()
    for t in ("kv-one", "kv-two"):
        assert r.get("subscribe", {"topic": t, "url": app.url("/" + t)})[0] == 200
    status, data = r.get("queryKV", {"cat": "topics"})
    assert status == 200 and [kv["k"] for kv in data["kv"]] == ["kv-one", "kv-two"], data
    status, data = r.get("queryKV", {"cat": "topics", "key": "kv-two"})
    assert status == 200 and [kv["k"] for kv in data["kv"]] == ["kv-two"], data


def test_all_with_status_aborting_is_empty(app, relay):
    r = relay()
    assert r.post("submit", msg_body(new_gid("abt"), [app.url("/svc/a")])) == (200, OK)
    status, data = r.get("all", {"status": "aborting"})
    assert (status, data) == (200, {"transactions": [], "next_position": ""})


def test_all_by_gid_answers_the_position_asked_for(app, relay):
    # DTM looks a gid up directly and hands the position back as it came
    r = relay()
    gid = new_gid("pos")
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")])) == (200, OK)
    data = r.all(gid=gid, position=12345)
    assert [t["gid"] for t in data["transactions"]] == [gid]
    assert data["next_position"] == "12345"
    assert r.all(gid=gid)["next_position"] == ""


def test_message_retry_interval_above_the_cap_is_kept(app, relay):
    r = relay(max_retry_interval=2)
    gid = new_gid("ri")
    app.queue("/svc/a", 500, {"error": "down"})
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")], retry_interval=5)) == (200, OK)
    app.wait_calls("/svc/a", 1)
    wait_for(lambda: r.query(gid)["branches"][0]["attempts"] == 1, 5, "the failed attempt stored")
    assert r.query(gid)["transaction"]["next_cron_interval"] == 5


def test_ongoing_step_keeps_its_interval(app, relay):
    r = relay()
    gid = new_gid("ongo")
    app.queue("/svc/a", 500, {"error": "down"})          # interval 1 -> 2
    app.queue("/svc/a", 425, {"dtm_result": "ONGOING"})  # kept at 2 (not back to 1)
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")])) == (200, OK)
    wait_for(lambda: r.query(gid)["branches"][0]["attempts"] >= 1, 5, "first attempt stored")
    assert r.query(gid)["transaction"]["next_cron_interval"] == 2
    app.wait_calls("/svc/a", 2, timeout=8)
    wait_for(lambda: r.query(gid)["branches"][0]["attempts"] >= 2, 5, "second attempt stored")
    assert r.query(gid)["transaction"]["next_cron_interval"] == 2
    r.wait_state(gid, "succeed", timeout=10)


def test_delay_counts_from_submit(app, relay):
    r = relay()
    gid = new_gid("dsub")
    body = msg_body(gid, [app.url("/svc/d")], query_prepared=app.url("/qp"), timeout_to_fail=60)
    assert r.post("prepare", body) == (200, OK)
    # it grows older than its delay before the submit, untouched
    stays(lambda: r.state(gid) == "prepared", 2.0, "the message prepared")
    t0 = time.monotonic()
    assert r.post("submit", dict(body, custom_data='{"delay":2}')) == (200, OK)
    c = app.wait_calls("/svc/d", 1, timeout=8)[0]
    assert c.t - t0 >= 1.8, "delivered %.2fs after submit despite delay 2" % (c.t - t0)
