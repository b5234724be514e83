# SPDX-License-Identifier: MIT
"""The alert webhook (--alert-webhook, --alert-after, --alert-rate): a JSON
POST when a step reaches --alert-after failed attempts (once, at that count),
rate-limited with the excess dropped and counted, never blocking delivery;
a failing webhook is tried a few times, then logged and counted; the target
policy refuses a webhook at a metadata address at start-up; a parking and a
back-check that keeps erring raise their alerts too."""
import os
import subprocess

import pytest

from conftest import relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for
from test_metrics import parse, total


def alert_flags(app, **extra):
    # destination health off: every failing message here must make its calls
    flags = {"alert_webhook": app.url("/hook"), "retry_interval": "1",
             "max_retry_interval": "1", "unhealthy_after": "0"}
    flags.update(extra)
    return flags


def test_alert_body_once_at_alert_after(app, relay):
    r = relay(alert_flags(app, alert_after="2"))
    app.set_default("/svc/down", 500, "boom")
    gid = new_gid("al")
    assert r.post("submit", msg_body(gid, [app.url("/svc/ok"), app.url("/svc/down")]))[0] == 200
    [call] = app.wait_calls("/hook", 1, timeout=15)
    assert call.method == "POST"
    assert call.headers.get("content-type") == "application/json"
    body = call.json()
    assert body["gid"] == gid
    assert body["status"] == "submitted"
    assert body["trans_type"] == "msg"
    assert body["branch"] == "02" and body["branch_id"] == "02"
    assert body["retry_count"] == 2
    assert body["parked"] is False
    assert "HTTP 500" in body["error"] and "boom" in body["error"], body
    # the third and fourth attempts raise no further alert
    app.wait_calls("/svc/down", 4, timeout=15)
    assert app.count("/hook") == 1
    s = parse(r.metrics())
    assert total(s, "msgrelay_alerts_total", outcome="sent") == 1


def test_parking_raises_a_parked_alert(app, relay):
    # --alert-after above the limit: the only alert is the parking's
    r = relay(alert_flags(app, alert_after="50", retry_limit="2"))
    app.set_default("/svc/gone", 404, "no such route")
    gid = new_gid("parkal")
    assert r.post("submit", msg_body(gid, [app.url("/svc/gone")]))[0] == 200
    r.wait_state(gid, "parked", timeout=15)
    [call] = app.wait_calls("/hook", 1, timeout=15)
    body = call.json()
    assert body["gid"] == gid
    assert body["parked"] is True and body["status"] == "parked", body
    assert body["branch_id"] == "01" and body["retry_count"] == 2, body
    assert "HTTP 404" in body["error"], body
    assert app.count("/svc/gone") == 2


def test_erring_back_check_alerts_at_alert_after(app, relay):
    r = relay(alert_flags(app, alert_after="2", timeout_to_fail="1"))
    app.set_default("/qp", 500, "db down")
    gid = new_gid("qpal")
    body = msg_body(gid, [app.url("/svc/a")], query_prepared=app.url("/qp"))
    assert r.post("prepare", body)[0] == 200
    [call] = app.wait_calls("/hook", 1, timeout=20)
    alert = call.json()
    assert alert["gid"] == gid and alert["branch_id"] == "00", alert
    assert alert["retry_count"] == 2 and alert["parked"] is False, alert
    assert alert["status"] == "prepared", alert


def test_alert_rate_limit_drops_and_counts(app, relay):
    r = relay(alert_flags(app, alert_after="1", alert_rate="2"))
    app.set_default("/svc/down", 500, "down")
    gids = [new_gid("rate") for _ in range(20)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/down")]))[0] == 200

    app.wait_calls("/svc/down", 20, timeout=15)

    def counted():
        s = parse(r.metrics())
        sent = total(s, "msgrelay_alerts_total", outcome="sent")
        dropped = total(s, "msgrelay_alerts_total", outcome="dropped_rate")
        return (sent, dropped) if sent + dropped >= 20 else None
    sent, dropped = wait_for(counted, 15, "20 alerts sent or dropped")
    # a burst of 2, then 2 a second: the first attempts of 20 messages come within a second or two
    assert sent <= 8, (sent, dropped)
    assert dropped >= 12, (sent, dropped)
    assert app.count("/hook") == sent
    wait_for(lambda: "alerts dropped" in r.log_tail(), 15, "the drop summary in the log")


def test_failing_webhook_is_counted_logged_and_does_not_block_delivery(app, relay):
    app.set_default("/hook", 500, "hook down")
    r = relay(alert_flags(app, alert_after="1"))
    bad = new_gid("hookfail")
    app.queue("/svc/flaky", 500, "once")
    assert r.post("submit", msg_body(bad, [app.url("/svc/flaky")]))[0] == 200
    # delivery goes on: the step's second attempt succeeds whatever the webhook does
    r.wait_state(bad, "succeed", timeout=15)
    good = new_gid("hookok")
    assert r.post("submit", msg_body(good, [app.url("/svc/ok")]))[0] == 200
    r.wait_state(good, "succeed", timeout=10)
    # three tries, then given up: counted and logged
    app.wait_calls("/hook", 3, timeout=15)

    def failed():
        s = parse(r.metrics())
        return total(s, "msgrelay_alerts_total", outcome="failed") == 1
    wait_for(failed, 10, "the failed alert counted")
    assert "alert webhook failed" in r.log_tail()
    stays(lambda: app.count("/hook") == 3, 0.6, "no fourth try")


def test_webhook_credentials_are_masked_in_the_log(app, relay):
    hook = "http://alice:s3cret-pw@127.0.0.1:%d/hook" % app.port
    app.set_default("/hook", 500, "no")
    r = relay(alert_flags(app, alert_after="1", alert_webhook=hook))
    gid = new_gid("mask")
    app.queue("/svc/once", 500, "x")
    assert r.post("submit", msg_body(gid, [app.url("/svc/once")]))[0] == 200
    app.wait_calls("/hook", 3, timeout=15)
    wait_for(lambda: "alert webhook failed" in r.log_tail(), 10, "the failure logged")
    assert app.calls("/hook")[0].headers.get("authorization", "").startswith("Basic ")
    # the harness's own "==== start" line quotes the command line; msgrelay's lines must not
    logged = [l for l in r.log_tail(2000).splitlines() if not l.startswith("==== start")]
    assert not [l for l in logged if "s3cret-pw" in l]


@pytest.mark.parametrize("hook", ["http://169.254.169.254/latest/hook",
                                  "http://metadata.google.internal/hook",
                                  "ftp://127.0.0.1/hook"])
def test_webhook_refused_at_start(tmp_path, hook):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "serve", "--port", "1", "--bind", "127.0.0.1",
                        "--store", "sqlite:" + str(tmp_path / "r.db"), "--alert-webhook", hook],
                       capture_output=True, text=True, timeout=20, env=env)
    assert p.returncode != 0
    assert "--alert-webhook" in p.stderr, p.stderr


def test_webhook_connect_time_check(app, relay):
    # "localhost" passes the URL check; it resolves to a denied address when connecting
    hook = "http://localhost:%d/hook" % app.port
    r = relay(alert_flags(app, alert_after="1", alert_webhook=hook,
                          deny_targets="127.0.0.1/32,::1"))
    gid = new_gid("dnshook")
    # the step fails (nothing listens there) at an address the policy allows
    assert r.post("submit", msg_body(gid, ["http://127.0.0.3:1/x"]))[0] == 200
    def refused():
        return [l for l in r.log_tail().splitlines()
                if "alert webhook failed" in l and "denied by policy" in l]
    wait_for(refused, 15, "the webhook refused at connect")
    assert app.count("/hook") == 0
