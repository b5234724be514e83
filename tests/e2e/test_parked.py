# SPDX-License-Identifier: MIT
"""When delivery keeps failing: retry_limit and --retry-limit park a message
whose step or back-check failed that many attempts; a parked message is never
called again, is shown by /query, /all?status=parked and `msgrelay list
--state parked`, counted in the metrics, and forceStop fails it."""
import json
import os
import re
import subprocess
import threading
from datetime import timedelta

import pytest

from e2e_helpers import msg_body, new_gid, parse_time, stays, utcnow, wait_for


def admin(r, *args):
    """Run `msgrelay ARGS --store <r's store>`; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([r.binary] + list(args) + ["--store", r.argv[r.argv.index("--store") + 1]],
                       capture_output=True, text=True, timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def branch(q, i):
    return q["branches"][i]


@pytest.mark.parametrize("status,body", [(500, "down"), (409, "FAILURE"), (200, "FAILURE")],
                         ids=["5xx", "409", "FAILURE-answer"])
def test_a_step_failing_retry_limit_times_parks_the_message(app, relay, status, body):
    r = relay({"--retry-limit": "2", "--max-retry-interval": "1"})
    gid = new_gid("park")
    app.set_default("/svc/bad", status, body)
    assert r.post("submit", msg_body(gid, [app.url("/svc/ok"), app.url("/svc/bad")]))[0] == 200
    q = r.wait_state(gid, "parked", timeout=15)
    assert app.count("/svc/bad") == 2, app.calls("/svc/bad")
    assert branch(q, 0)["status"] == "succeed"
    assert branch(q, 1)["status"] == "prepared"
    assert branch(q, 1)["attempts"] == 2
    assert branch(q, 1)["last_error"], q
    assert "next_cron_time" not in q["transaction"], "a parked message is not scheduled"
    # never called again
    stays(lambda: app.count("/svc/bad") == 2, 2.5,
          lambda: "a parked message was called again: %r" % app.calls("/svc/bad"))
    assert app.count("/svc/ok") == 1
    assert r.state(gid) == "parked"
    logged = r.log_tail()
    line = [json.loads(l) for l in logged.splitlines()
            if l.startswith("{") and '"message parked"' in l]
    assert line and line[0]["gid"] == gid and line[0]["step"] == "02" \
        and line[0]["attempts"] == "2" and line[0]["error"], logged


def test_a_messages_own_retry_limit_wins_and_an_ongoing_answer_never_parks(app, relay):
    r = relay({"--retry-limit": "50", "--max-retry-interval": "1"})
    gid = new_gid("park")
    app.set_default("/svc/bad", 503, "no")
    assert r.post("submit", msg_body(gid, [app.url("/svc/bad")], retry_limit=3))[0] == 200
    q = r.wait_state(gid, "parked", timeout=15)
    assert q["transaction"]["retry_limit"] == 3
    assert app.count("/svc/bad") == 3

    # ONGOING answers are attempts too, but only a failure or an error parks
    gid2 = new_gid("park")
    app.set_default("/svc/wait", 425, "")
    assert r.post("submit", msg_body(gid2, [app.url("/svc/wait")], retry_limit=1))[0] == 200
    app.wait_calls("/svc/wait", 3, timeout=10)
    assert r.state(gid2) == "submitted"


def test_zero_retry_limit_never_parks(app, relay):
    r = relay({"--retry-limit": "0", "--max-retry-interval": "1"})
    gid = new_gid("park")
    app.set_default("/svc/bad", 500, "down")
    assert r.post("submit", msg_body(gid, [app.url("/svc/bad")]))[0] == 200
    app.wait_calls("/svc/bad", 4, timeout=15)
    assert r.state(gid) == "submitted"


def test_a_back_check_failing_retry_limit_times_parks_the_prepared_message(app, relay):
    r = relay({"--retry-limit": "2", "--max-retry-interval": "1"})
    gid = new_gid("park")
    app.set_default("/qp", 500, "db down")
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=1))[0] == 200
    q = r.wait_state(gid, "parked", timeout=15)
    assert app.count("/qp") == 2
    assert "query_prepared" in q["transaction"].get("result", ""), q
    stays(lambda: app.count("/qp") == 2, 2.5, "a parked message was back-checked again")
    assert app.count("/svc/a") == 0, "a message parked by its back-check was delivered"
    line = [json.loads(l) for l in r.log_tail().splitlines()
            if l.startswith("{") and '"message parked"' in l]
    assert line and line[0]["step"] == "00" and line[0]["attempts"] == "2", line


def test_parked_messages_are_listed_counted_and_force_stopped(app, relay):
    r = relay({"--retry-limit": "1"})
    app.set_default("/svc/bad", 500, "down")
    parked = [new_gid("park") for _ in range(2)]
    other = new_gid("park")
    for g in parked:
        assert r.post("submit", msg_body(g, [app.url("/svc/bad")]))[0] == 200
    assert r.post("submit", msg_body(other, [app.url("/svc/ok")]))[0] == 200
    for g in parked:
        r.wait_state(g, "parked", timeout=10)
    r.wait_state(other, "succeed")

    page = r.all(status="parked")
    assert sorted(t["gid"] for t in page["transactions"]) == sorted(parked)
    rc, out, err = admin(r, "list", "--state", "parked")
    assert rc == 0, err
    assert sorted(t["gid"] for t in json.loads(out)["transactions"]) == sorted(parked)
    rc, out, err = admin(r, "show", parked[0])
    assert rc == 0 and json.loads(out)["transaction"]["status"] == "parked", (rc, out, err)

    wait_for(lambda: metric(r.metrics(), "msgrelay_messages_parked") == 2, 10,
             lambda: "parked gauge: %s" % r.metrics())
    assert metric(r.metrics(), "msgrelay_parkings_total") == 2
    assert 'msgrelay_message_transitions_total{from="submitted",to="parked"} 2' in r.metrics()

    # resetNextCronTime does not wake a parked message; forceStop fails it
    assert r.post("resetNextCronTime", {"gid": parked[0]}) == (200, {"dtm_result": "SUCCESS"})
    assert r.state(parked[0]) == "parked"
    assert r.post("forceStop", {"gid": parked[0]}) == (200, {"dtm_result": "SUCCESS"})
    assert r.state(parked[0]) == "failed"
    wait_for(lambda: metric(r.metrics(), "msgrelay_messages_parked") == 1, 10,
             lambda: "parked gauge: %s" % r.metrics())
    # a submit of a parked message does not wake it either
    status, _ = r.post("submit", msg_body(parked[1], [app.url("/svc/bad")]))
    assert status != 200 or r.state(parked[1]) == "parked"
    stays(lambda: app.count("/svc/bad") == 2, 1.0, "a parked message was called again")


@pytest.mark.parametrize("value,problem", [(-1, "must be between 0 and 1000000"),
                                           (1000001, "must be between 0 and 1000000"),
                                           ("3", "must be a whole number"),
                                           (1.5, "must be a whole number")])
def test_bad_retry_limit_is_a_400_and_stores_nothing(app, relay, value, problem):
    r = relay()
    gid = new_gid("park")
    status, data = r.post("prepare", msg_body(gid, [app.url("/svc/a")], retry_limit=value))
    assert (status, data) == (400, {"dtm_result": "FAILURE",
                                    "message": "retry_limit: " + problem}), (status, data)
    assert r.query(gid).get("transaction") is None


# ---------------------------------------------------------------- redrive

ADMIN_TOKEN = "admin-8e7d6c5b4a39281706"


def redrive(r, body, token=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    status, data, _ = r.request("POST", "/api/msgrelay/redrive", body=body, headers=headers)
    return status, data


def park_some(r, app, gids, path="/svc/bad"):
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/ok"), app.url(path)]))[0] == 200
    for g in gids:
        r.wait_state(g, "parked", timeout=10)


def test_redrive_by_gid_delivers_the_unfinished_steps_with_attempts_afresh(app, relay):
    r = relay({"--retry-limit": "2", "--max-retry-interval": "1"})
    gid = new_gid("rd")
    other = new_gid("rd")
    app.set_default("/svc/bad", 500, "down")
    park_some(r, app, [gid, other])
    assert app.count("/svc/ok") == 2 and app.count("/svc/bad") == 4

    assert redrive(r, {"gid": gid, "dry_run": True}) == (200, {"matched": 1, "redriven": 0})
    assert r.state(gid) == "parked"
    stays(lambda: app.count("/svc/bad") == 4, 1.0, "a dry run redrove")

    app.set_default("/svc/bad", 200, "SUCCESS")
    assert redrive(r, {"gid": gid}) == (200, {"matched": 1, "redriven": 1})
    q = r.wait_state(gid, "succeed", timeout=10)
    assert app.count("/svc/ok") == 2, "a step that had succeeded was called again"
    assert app.count("/svc/bad") == 5
    assert q["branches"][1]["status"] == "succeed"
    assert r.state(other) == "parked", "redrive by gid touched another message"
    # again: nothing parked under that gid any more
    assert redrive(r, {"gid": gid}) == (200, {"matched": 0, "redriven": 0})


def test_redrive_of_a_message_its_back_check_parked_asks_again_first(app, relay):
    r = relay({"--retry-limit": "2", "--max-retry-interval": "1"})
    gid = new_gid("rd")
    app.set_default("/qp", 500, "db down")
    assert r.post("prepare", msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"),
                                      timeout_to_fail=1))[0] == 200
    r.wait_state(gid, "parked", timeout=15)
    assert app.count("/qp") == 2
    app.set_default("/qp", 200, "SUCCESS")
    assert redrive(r, {"gid": gid}) == (200, {"matched": 1, "redriven": 1})
    r.wait_state(gid, "succeed", timeout=10)
    assert app.count("/qp") == 3, "not back-checked again before its delivery"
    assert app.calls("/svc/a")[0].t >= app.calls("/qp")[2].t


def test_redrive_counts_attempts_afresh_and_parks_again(app, relay):
    r = relay({"--retry-limit": "2", "--max-retry-interval": "1"})
    gid = new_gid("rd")
    app.set_default("/svc/bad", 500, "down")
    park_some(r, app, [gid])
    assert redrive(r, {"gid": gid}) == (200, {"matched": 1, "redriven": 1})
    # two more failed attempts (not one: the count starts again), then parked again
    wait_for(lambda: app.count("/svc/bad") == 4 and r.state(gid) == "parked", 15,
             lambda: "parked again after 2 more calls: %d calls, %s"
             % (app.count("/svc/bad"), r.state(gid)))
    stays(lambda: app.count("/svc/bad") == 4, 1.0, "called after it was parked again")


def test_redrive_by_filters_with_dry_run(app, relay):
    r = relay({"--retry-limit": "1"})
    app.set_default("/svc/bad", 500, "orders db is down")
    app.set_default("/svc/other", 503, "maintenance")
    orders = [new_gid("ord") for _ in range(3)]
    others = [new_gid("oth") for _ in range(2)]
    park_some(r, app, orders)
    park_some(r, app, others, path="/svc/other")

    assert redrive(r, {"gid_prefix": "ord", "dry_run": True}) == (
        200, {"matched": 3, "redriven": 0})
    assert redrive(r, {"url_prefix": app.url("/svc/other"), "dry_run": True}) == (
        200, {"matched": 2, "redriven": 0})
    assert redrive(r, {"error": "orders db", "dry_run": True}) == (
        200, {"matched": 3, "redriven": 0})
    assert redrive(r, {"error": "%", "dry_run": True}) == (200, {"matched": 0, "redriven": 0})
    assert redrive(r, {"parked_since": 1, "parked_until": 2, "dry_run": True}) == (
        200, {"matched": 0, "redriven": 0})
    assert redrive(r, {"all": True, "dry_run": True}) == (200, {"matched": 5, "redriven": 0})
    assert sorted(t["gid"] for t in r.all(status="parked")["transactions"]) == \
        sorted(orders + others)

    app.set_default("/svc/bad", 200, "SUCCESS")
    assert redrive(r, {"gid_prefix": "ord", "error": "orders db"}) == (
        200, {"matched": 3, "redriven": 3})
    for g in orders:
        r.wait_state(g, "succeed", timeout=10)
    for g in others:
        assert r.state(g) == "parked"

    # the CLI does the same on the store directly
    rc, out, err = admin(r, "redrive", "--url-prefix", app.url("/svc/other"), "--dry-run")
    assert rc == 0 and json.loads(out) == {"matched": 2, "redriven": 0}, (rc, out, err)
    app.set_default("/svc/other", 200, "SUCCESS")
    rc, out, err = admin(r, "redrive", "--gid", others[0])
    assert rc == 0 and json.loads(out) == {"matched": 1, "redriven": 1}, (rc, out, err)
    r.wait_state(others[0], "succeed", timeout=10)
    assert r.state(others[1]) == "parked"
    rc, out, err = admin(r, "redrive")
    assert rc == 2 and "--all" in err, (rc, out, err)
    rc, out, err = admin(r, "redrive", "--parked-since", "yesterday")
    assert rc == 2 and "epoch milliseconds" in err, (rc, out, err)


@pytest.mark.parametrize("body,message", [
    ({}, "filter: give gid"),
    ({"dry_run": True}, "filter: give gid"),
    ({"gid": "bad;gid"}, "gid: "),
    ({"gid": 5}, "gid: must be a string"),
    ({"gid_prefix": "x" * 129}, "gid_prefix: longer than 128 bytes"),
    ({"url_prefix": "x" * 2049}, "url_prefix: longer than 2048 bytes"),
    ({"error": "x" * 1025}, "error: longer than 1024 bytes"),
    ({"parked_since": -1}, "parked_since: must be a time in epoch milliseconds"),
    ({"parked_since": "today"}, "parked_since: must be a time in epoch milliseconds"),
    ({"parked_since": 5, "parked_until": 4}, "parked_until: before parked_since"),
    ({"all": "yes"}, "all: must be true or false"),
    ([1], "body: must be a JSON object"),
], ids=["empty", "dry-run-only", "gid", "gid-type", "gid-prefix-long", "url-prefix-long",
        "error-long", "since-negative", "since-text", "until-before-since", "all-type", "array"])
def test_bad_redrive_is_a_400_and_changes_nothing(app, relay, body, message):
    r = relay({"--retry-limit": "1"})
    gid = new_gid("rd")
    app.set_default("/svc/bad", 500, "down")
    park_some(r, app, [gid])
    status, data = redrive(r, body)
    assert status == 400 and data["dtm_result"] == "FAILURE" \
        and data["message"].startswith(message), (status, data)
    assert r.state(gid) == "parked"


def test_redrive_and_reset_cron_need_the_admin_token(app, relay):
    r = relay({"--retry-limit": "1", "--admin-token": ADMIN_TOKEN})
    gid = new_gid("rd")
    app.set_default("/svc/bad", 500, "down")
    park_some(r, app, [gid])
    status, data = redrive(r, {"gid": gid})
    assert status == 401 and data["message"].startswith("authorization:"), (status, data)
    status, data, _ = r.request("GET", "resetCronTime")
    assert status == 401, (status, data)
    assert r.state(gid) == "parked"
    assert redrive(r, {"gid": gid}, token=ADMIN_TOKEN) == (200, {"matched": 1, "redriven": 1})


def test_bulk_redrive_goes_in_batches_while_deliveries_go_on(app, relay):
    """1,200 parked messages (three batches of 500) redriven at once, while
    fresh submits are still answered and delivered."""
    r = relay({"--retry-limit": "1", "--retry-interval": "60"})
    store = r.argv[r.argv.index("--store") + 1]
    app.set_default("/svc/bad", 500, "down")
    first = new_gid("bulk")
    park_some(r, app, [first])
    if not store.startswith("sqlite:"):
        pytest.skip("the copy below is SQLite's")
    import sqlite3
    db = sqlite3.connect(store[len("sqlite:"):], timeout=10)
    (mid,) = db.execute("SELECT id FROM msg WHERE gid = ?", (first,)).fetchone()
    cols = [c[1] for c in db.execute("PRAGMA table_info(msg)") if c[1] not in ("id", "gid")]
    for i in range(1199):
        db.execute("INSERT INTO msg (gid, %s) SELECT ?, %s FROM msg WHERE id = ?"
                   % (", ".join(cols), ", ".join(cols)), ("%s-%04d" % (first, i), mid))
        db.execute("INSERT INTO step (msg_id, branch_id, op, url, payload, state, attempts) "
                   "SELECT last_insert_rowid(), branch_id, op, url, payload, state, attempts "
                   "FROM step WHERE msg_id = ?", (mid,))
    db.commit()
    db.close()
    assert redrive(r, {"gid_prefix": first, "dry_run": True}) == (
        200, {"matched": 1200, "redriven": 0})
    app.set_default("/svc/bad", 200, "SUCCESS")
    fresh = new_gid("fresh")
    got = {}
    t = threading.Thread(target=lambda: got.update(rd=redrive(r, {"gid_prefix": first})))
    t.start()
    assert r.post("submit", msg_body(fresh, [app.url("/svc/ok")]))[0] == 200
    t.join(30)
    assert got.get("rd") == (200, {"matched": 1200, "redriven": 1200}), got
    r.wait_state(fresh, "succeed", timeout=10)
    wait_for(lambda: r.all(status="parked", limit=1)["transactions"] == [], 10, "none parked")
    wait_for(lambda: r.all(status="succeed", limit=1000)["next_position"] != "", 20,
             "the redriven ones delivered")
    assert "parked messages redriven" in r.log_tail(lines=100000)


# ---------------------------------------------------------------- resetCronTime

def test_reset_cron_time_makes_far_off_retries_due_now(app, relay):
    r = relay({"--retry-limit": "0", "--retry-interval": "30", "--max-retry-interval": "300"})
    gids = [new_gid("cron") for _ in range(3)]
    app.set_default("/svc/slow", 500, "down")
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/slow")]))[0] == 200
    app.wait_calls("/svc/slow", 3, timeout=10)
    app.set_default("/svc/slow", 200, "SUCCESS")
    # each now waits about 60 s; none of them is due within 10 s. The app lists a call as it
    # arrives: wait until every failure is written back (next try well into the future).
    def backed_off(g):
        t = r.query(g)["transaction"].get("next_cron_time")
        return t is not None and parse_time(t) > utcnow() + timedelta(seconds=20)
    wait_for(lambda: all(backed_off(g) for g in gids), 10, "every back-off recorded")
    status, data = r.get("resetCronTime", {"timeout": "10", "limit": "2"})
    assert (status, data) == (200, {"has_remaining": True, "succeed_count": 2}), (status, data)
    wait_for(lambda: app.count("/svc/slow") == 5, 10, "two redelivered")
    status, data = r.get("resetCronTime", {"timeout": "10"})
    assert (status, data) == (200, {"has_remaining": False, "succeed_count": 1}), (status, data)
    for g in gids:
        r.wait_state(g, "succeed", timeout=10)
    status, data = r.get("resetCronTime")
    assert (status, data) == (200, {"has_remaining": False, "succeed_count": 0}), (status, data)


@pytest.mark.parametrize("params,message", [
    ({"limit": "0"}, "limit: must be between 1 and 1000"),
    ({"limit": "1001"}, "limit: must be between 1 and 1000"),
    ({"limit": "x"}, "limit: must be between 1 and 1000"),
    ({"timeout": "-1"}, "timeout: must be 0 to 31622400 seconds"),
    ({"timeout": "31622401"}, "timeout: must be 0 to 31622400 seconds"),
])
def test_bad_reset_cron_time_is_a_400(relay, params, message):
    r = relay()
    status, data = r.get("resetCronTime", params)
    assert (status, data) == (400, {"dtm_result": "FAILURE", "message": message}), (status, data)
