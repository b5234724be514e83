# SPDX-License-Identifier: MIT
"""query and all: answers for unknown / missing gids, the shape of a stored
message, and paging through all messages newest first."""
import base64
import json
from datetime import timedelta

from e2e_helpers import msg_body, new_gid, parse_time, utcnow


def test_query_of_unknown_gid_is_200_with_null_transaction(relay):
    r = relay()
    status, data = r.get("query", {"gid": new_gid("unknown")})
    assert status == 200, (status, data)
    assert data == {"branches": [], "transaction": None}


def test_query_without_gid_is_500_no_gid_specified(relay):
    r = relay()
    for params in (None, {"gid": ""}):
        status, data = r.get("query", params)
        assert status == 500, (params, status, data)
        assert data == {"message": "no gid specified"}, (params, data)


def test_query_shape_of_a_delivered_message(app, relay):
    r = relay()
    gid = new_gid("shape")
    payloads = ['{"amount":30}', 'plain text \u00e9\n']
    body = msg_body(gid, [app.url("/svc/a"), app.url("/svc/b")], payloads,
                    query_prepared=app.url("/qp"))
    before = utcnow() - timedelta(seconds=5)
    assert r.post("prepare", body) == (200, {"dtm_result": "SUCCESS"})
    assert r.post("submit", body) == (200, {"dtm_result": "SUCCESS"})
    q = r.wait_state(gid, "succeed")
    after = utcnow() + timedelta(seconds=5)

    assert set(q) >= {"transaction", "branches"}
    t = q["transaction"]
    assert isinstance(t["id"], int) and t["id"] > 0, t
    for key in ("create_time", "update_time"):
        when = parse_time(t[key])
        assert before <= when <= after, "%s %s is not now (UTC rendering?)" % (key, t[key])
    assert parse_time(t["update_time"]) >= parse_time(t["create_time"])
    assert t["gid"] == gid
    assert t["trans_type"] == "msg"
    assert t["status"] == "succeed"
    assert t["query_prepared"] == app.url("/qp")
    assert t["protocol"] == "http"
    assert isinstance(t["options"], str), "options must be a JSON string: %r" % (t["options"],)
    assert isinstance(json.loads(t["options"]), dict), t["options"]
    if t.get("next_cron_time") is not None:  # may be dropped once finished (DTM keeps it)
        parse_time(t["next_cron_time"])
    if t.get("finish_time") is not None:
        assert before <= parse_time(t["finish_time"]) <= after

    br = q["branches"]
    assert len(br) == 2, br
    assert [b["branch_id"] for b in br] == ["01", "02"]
    assert br[0]["id"] < br[1]["id"], "branches not in creation order"
    for b, url, payload in zip(br, (app.url("/svc/a"), app.url("/svc/b")), payloads):
        assert isinstance(b["id"], int)
        assert b["gid"] == gid
        assert b["url"] == url
        assert base64.b64decode(b["bin_data"]) == payload.encode("utf-8"), b["bin_data"]
        assert b["op"] == "action"
        assert b["status"] == "succeed"
        parse_time(b["create_time"])
        parse_time(b["update_time"])


def test_query_of_prepared_message_shows_prepared_branches(app, relay):
    r = relay()
    gid = new_gid("shape")
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=30))[0] == 200
    q = r.query(gid)
    t = q["transaction"]
    assert t["status"] == "prepared"
    assert t.get("finish_time") is None
    # an unfinished message says when the relay looks at it next: after prepare, in the future
    assert parse_time(t["next_cron_time"]) > utcnow(), t["next_cron_time"]
    assert [(b["branch_id"], b["op"], b["status"]) for b in q["branches"]] == [("01", "action", "prepared")]


def _page_all(r, limit, **filters):
    seen, pages, position = [], 0, None
    while True:
        data = r.all(limit=limit, position=position, **filters)
        assert set(data) >= {"transactions", "next_position"}, data
        txs = data["transactions"]
        assert len(txs) <= limit, (limit, len(txs))
        seen.extend(txs)
        pages += 1
        assert pages < 50, "paging does not end"
        position = data["next_position"]
        assert isinstance(position, str), data
        if position == "":
            return seen, pages


def test_all_pages_newest_first_each_message_once(app, relay):
    r = relay()
    gids = [new_gid("page%d" % i) for i in range(5)]
    for g in gids:  # one after the other: creation order is gids order
        assert r.post("submit", msg_body(g, [app.url("/svc/a")]))[0] == 200
    seen, pages = _page_all(r, 2)
    assert pages >= 3, "5 messages with limit=2 need at least 3 pages"
    got = [t["gid"] for t in seen]
    assert sorted(got) == sorted(gids), "each message exactly once: %r" % got
    assert got == list(reversed(gids)), "not newest first: %r" % got
    ids = [t["id"] for t in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids), ids

    data = r.all()  # no limit: default is large enough for 5
    assert [t["gid"] for t in data["transactions"]] == list(reversed(gids))
    assert data["next_position"] == ""


def test_all_filters_by_status(app, relay):
    r = relay()
    ok = [new_gid("ok%d" % i) for i in range(2)]
    for g in ok:
        assert r.post("submit", msg_body(g, [app.url("/svc/a")]))[0] == 200
    prepared = new_gid("prep")
    assert r.post("prepare", msg_body(prepared, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=60))[0] == 200
    failed = new_gid("failed")
    assert r.post("prepare", msg_body(failed, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=60))[0] == 200
    assert r.post("abort", {"gid": failed, "trans_type": "msg"})[0] == 200
    for g in ok:
        r.wait_state(g, "succeed")

    def gids(status):
        seen, _ = _page_all(r, 100, status=status)
        assert all(t["status"] == status for t in seen), seen
        return sorted(t["gid"] for t in seen)

    assert gids("succeed") == sorted(ok)
    assert gids("prepared") == [prepared]
    assert gids("failed") == [failed]
    assert gids("submitted") == []
