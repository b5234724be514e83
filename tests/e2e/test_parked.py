# SPDX-License-Identifier: MIT
"""When delivery keeps failing: retry_limit and --retry-limit park a message
whose step or back-check failed that many attempts; a parked message is never
called again, is shown by /query, /all?status=parked and `msgrelay list
--state parked`, counted in the metrics, and forceStop fails it."""
import json
import os
import re
import subprocess

import pytest

from e2e_helpers import msg_body, new_gid, stays, wait_for


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
