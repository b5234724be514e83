# SPDX-License-Identifier: MIT
"""DTM topics: subscribe / unsubscribe / DELETE topic/NAME, scanKV / queryKV,
and topic://NAME steps expanded at prepare/submit to one branch per subscriber
(branch ids 01-01, 01-02, ...), read from the store each time (a deleted topic
is forgotten at once). Answers and texts are DTM's (reference §5): its own
refusals are 500 {"message": ...}; what msgrelay checks beyond DTM is a 400.
"""
import json

from e2e_helpers import msg_body, new_gid, wait_for
from test_kafka import kafka, topic_name  # noqa: F401  (kafka is a fixture)


def subscribe(r, topic, url, remark=None):
    params = {"topic": topic, "url": url}
    if remark is not None:
        params["remark"] = remark
    return r.get("subscribe", params)


def unsubscribe(r, topic, url):
    return r.get("unsubscribe", {"topic": topic, "url": url})


def delete_topic(r, topic):
    status, data, _ = r.request("DELETE", "topic/" + topic)
    return status, data


def query_kv(r, topic):
    status, data = r.get("queryKV", {"cat": "topics", "key": topic})
    assert status == 200, data
    return data["kv"]


def subscribers(r, topic):
    kv = query_kv(r, topic)
    assert len(kv) == 1, kv
    return [s["url"] for s in json.loads(kv[0]["v"])]


def test_subscribe_and_unsubscribe_answer_as_dtm(relay, app):
    r = relay()
    t = topic_name("sub")
    a, b = app.url("/a"), app.url("/b")

    assert subscribe(r, t, a, "first") == (200, {"dtm_result": "SUCCESS"})
    assert subscribe(r, t, a) == (500, {"message": "this url exists"})
    assert subscribe(r, "", a) == (500, {"message": "empty topic"})
    assert subscribe(r, t, "") == (500, {"message": "empty url"})
    assert subscribe(r, t, b)[0] == 200
    assert subscribers(r, t) == [a, b]

    assert unsubscribe(r, t, a) == (200, {"dtm_result": "SUCCESS"})
    assert unsubscribe(r, t, a) == (500, {"message": "no such an url "})
    assert unsubscribe(r, t, b)[0] == 200
    assert unsubscribe(r, t, b) == (500, {"message": "this topic is empty"})
    assert unsubscribe(r, "", b) == (500, {"message": "empty topic"})
    assert unsubscribe(r, t, "") == (500, {"message": "empty url"})
    assert unsubscribe(r, topic_name("nope"), b) == (500, {"message": "no such a topic"})
    # the emptied topic stays, at version 1 + 1 + 2 updates
    kv = query_kv(r, t)
    assert kv[0]["version"] == 4 and json.loads(kv[0]["v"]) == []


def test_subscribe_validates_name_and_url(relay, app):
    r = relay()
    for topic, url, problem in [
            ("a b", app.url("/a"), "topic: may contain only"),
            ("x" * 129, app.url("/a"), "topic: longer than 128"),
            ("t", "ftp://host/x", "url: must be an http:// or https:// URL"),
            ("t", "kafka://orders", "url: kafka destinations are not configured"),
            ("t", "http://h/" + "p" * 2100, "url: longer than")]:
        status, data = subscribe(r, topic, url)
        assert status == 400, (topic, url, data)
        assert data["dtm_result"] == "FAILURE" and data["message"].startswith(problem), data
    assert r.get("scanKV", {"cat": "topics"})[1]["kv"] == []


def test_delete_topic(relay, app):
    r = relay()
    t = topic_name("del")
    status, data = delete_topic(r, t)
    assert status == 500 and data == {"message": "storage: NotFound"}
    assert subscribe(r, t, app.url("/a"))[0] == 200
    assert delete_topic(r, t) == (200, {"dtm_result": "SUCCESS"})
    assert query_kv(r, t) == []
    status, data = r.post("submit", msg_body(new_gid("del"), ["topic://" + t]))
    assert status == 400 and "topic not found" in data["message"], data


def test_scan_and_query_kv_shapes(relay, app):
    r = relay()
    names = [topic_name("scan") for _ in range(3)]
    for n in names:
        assert subscribe(r, n, app.url("/" + n), "r-" + n)[0] == 200

    kv = query_kv(r, names[0])
    assert list(kv[0].keys()) == ["id", "create_time", "update_time", "cat", "k", "v", "version"]
    assert kv[0]["cat"] == "topics" and kv[0]["k"] == names[0] and kv[0]["version"] == 1
    assert json.loads(kv[0]["v"]) == [{"url": app.url("/" + names[0]), "remark": "r-" + names[0]}]
    assert query_kv(r, "missing") == []

    # newest first, two per page, next_position "" on the last page
    status, page = r.get("scanKV", {"cat": "topics", "limit": 2})
    assert status == 200 and [x["k"] for x in page["kv"]] == [names[2], names[1]], page
    assert page["next_position"] == str(page["kv"][-1]["id"])
    status, page = r.get("scanKV", {"cat": "topics", "limit": 2,
                                    "position": page["next_position"]})
    assert [x["k"] for x in page["kv"]] == [names[0]] and page["next_position"] == "", page
    assert r.get("scanKV", {"cat": "other"}) == (200, {"kv": [], "next_position": ""})
    assert r.get("scanKV", {"cat": "topics", "limit": 0})[0] == 400


def test_topic_with_two_subscribers_delivers_both(relay, app):
    r = relay()
    t = topic_name("two")
    assert subscribe(r, t, app.url("/out"))[0] == 200
    assert subscribe(r, t, app.url("/in"))[0] == 200
    gid = new_gid("two")
    status, data = r.post("submit", msg_body(gid, ["topic://" + t], payloads=['{"amount":30}']))
    assert status == 200, data
    q = r.wait_state(gid, "succeed")
    assert [(b["branch_id"], b["url"]) for b in q["branches"]] == \
        [("01-01", app.url("/out")), ("01-02", app.url("/in"))]
    for path, branch_id in (("/out", "01-01"), ("/in", "01-02")):
        calls = app.wait_calls(path, 1)
        assert calls[0].params["branch_id"] == branch_id and calls[0].params["gid"] == gid
        assert calls[0].body == b'{"amount":30}'


def test_prepare_snapshots_subscribers_and_mixes_with_plain_steps(relay, app):
    r = relay()
    t = topic_name("one")
    assert subscribe(r, t, app.url("/only"))[0] == 200
    gid = new_gid("one")
    status, data = r.post("prepare", msg_body(gid, [app.url("/first"), "topic://" + t]))
    assert status == 200, data
    # a subscriber added after the prepare is not part of this message
    assert subscribe(r, t, app.url("/late"))[0] == 200
    assert r.post("submit", {"gid": gid, "trans_type": "msg"})[0] == 200
    q = r.wait_state(gid, "succeed")
    # a topic step with one subscriber keeps the plain "%02d" id
    assert [(b["branch_id"], b["url"]) for b in q["branches"]] == \
        [("01", app.url("/first")), ("02", app.url("/only"))]
    assert app.count("/late") == 0


def test_unknown_or_empty_topic_is_refused_and_nothing_stored(relay, app):
    r = relay()
    empty = topic_name("empty")
    assert subscribe(r, empty, app.url("/a"))[0] == 200
    assert unsubscribe(r, empty, app.url("/a"))[0] == 200
    for t in (topic_name("unknown"), empty):
        for route in ("prepare", "submit"):
            gid = new_gid("nf")
            status, data = r.post(route, msg_body(gid, [app.url("/x"), "topic://" + t]))
            assert status == 400, (route, data)
            assert data["message"] == "steps[1].action: topic not found: '%s'" % t, data
            assert r.query(gid)["transaction"] is None
    status, data = r.post("submit", msg_body(new_gid("bad"), ["topic://a b"]))
    assert status == 400 and data["message"].startswith("steps[0].action: topic:"), data


def test_topic_with_http_and_kafka_subscriber_gets_both(kafka, relay, app):  # noqa: F811
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    t = topic_name("mix")
    ktopic = topic_name("k")
    assert subscribe(r, t, app.url("/svc"))[0] == 200
    assert subscribe(r, t, "kafka://" + ktopic)[0] == 200
    gid = new_gid("mix")
    status, data = r.post("submit", msg_body(gid, ["topic://" + t], payloads=["both"]))
    assert status == 200, data
    r.wait_state(gid, "succeed")
    calls = app.wait_calls("/svc", 1)
    assert calls[0].body == b"both" and calls[0].params["branch_id"] == "01-01"
    recs = k.wait_records(ktopic, 1)
    assert [(x["key"], x["payload"], x["headers"]["branch_id"]) for x in recs] == \
        [(gid, "both", "01-02")]


def test_topic_routes_are_counted_in_metrics(relay, app):
    r = relay()
    t = topic_name("m")
    subscribe(r, t, app.url("/a"))
    delete_topic(r, t)
    r.get("scanKV", {"cat": "topics"})
    text = wait_for(lambda: (lambda m: m if 'route="scanKV"' in m else None)(r.metrics()), 5,
                    "scanKV in metrics")
    for label in ("subscribe", "deleteTopic", "scanKV"):
        assert 'route="%s",code="200"' % label in text, label
