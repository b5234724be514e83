# SPDX-License-Identifier: MIT
"""Kafka destinations: kafka://TOPIC[?key=K] steps produced by the relay's
idempotent producer to librdkafka's mock cluster (tests/helpers/kafka_mock, the
real Kafka protocol on loopback), read back with kcat.

A step succeeds only once the broker has the record; while it has not (broker
down) the step is retried with back-off and the message stays submitted.
Delivery is at-least-once: after kill -9 every record arrives, maybe twice.
"""
import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from conftest import REPO, free_port, relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for

KCAT = "kcat"


def helper_path(name):
    build = os.environ.get("MSGRELAY_BUILD")
    if not build:
        binary = os.environ.get("MSGRELAY_BIN")
        build = os.path.dirname(binary) if binary else os.path.join(REPO, "build")
    path = os.path.join(build, "tests", "helpers", name)
    if not os.access(path, os.X_OK):
        pytest.fail("test helper not built: %r (run make build)" % path, pytrace=False)
    return path


class KafkaMock:
    """One kafka_mock process: .bootstrap, .down(), .up(), .topic_down(), .topic_up(),
    .records(topic)."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([helper_path("kafka_mock")] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            self.proc.wait(5)
            pytest.fail("kafka_mock printed no bootstrap address (exit %s)" % self.proc.returncode,
                        pytrace=False)

    def _signal(self, sig, ack):
        self.proc.send_signal(sig)
        line = self.proc.stdout.readline().strip()
        assert line == ack, "kafka_mock answered %r to %s" % (line, sig)

    def down(self):
        self._signal(signal.SIGUSR1, "down")

    def up(self):
        self._signal(signal.SIGUSR2, "up")

    def topic_down(self):
        """The --flaky-topic loses its leader: records to it time out, the rest stays up."""
        self._signal(signal.SIGRTMIN, "topic-down")

    def topic_up(self):
        self._signal(signal.SIGRTMIN + 1, "topic-up")

    def records(self, topic):
        """Every record of @topic so far: [{key, payload, headers{}, partition, offset}]."""
        try:
            out = subprocess.run([KCAT, "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning",
                                  "-e", "-q", "-J"], capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            return []
        if out.returncode != 0:
            return []
        recs = []
        for line in out.stdout.splitlines():
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            h = r.get("headers") or []
            r["headers"] = dict(zip(h[0::2], h[1::2]))
            recs.append(r)
        return recs

    def wait_records(self, topic, n, timeout=15):
        last = {}

        def enough():
            last["r"] = self.records(topic)
            return last["r"] if len(last["r"]) >= n else None
        return wait_for(enough, timeout, lambda: "%d record(s) on %s, got %r"
                        % (n, topic, last.get("r")), interval=0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def kafka():
    """Factory: kafka(*args) -> a started KafkaMock, stopped by PID at teardown."""
    mocks = []

    def start(*args):
        m = KafkaMock(*args)
        mocks.append(m)
        return m
    try:
        yield start
    finally:
        for m in mocks:
            m.stop()


def topic_name(prefix="t"):
    return new_gid(prefix).replace("-", "_")


def branch(q, branch_id):
    return next(b for b in q["branches"] if b["branch_id"] == branch_id)


def test_kafka_step_is_produced_once_with_key_and_headers(kafka, relay):
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    topic = topic_name()
    gid = new_gid("kafka")
    body = msg_body(gid, ["kafka://" + topic, "kafka://%s?key=acct-7" % topic],
                    payloads=['{"amount":30}', "second"], branch_headers={"X-Trace": "t1"})
    status, data = r.post("submit", body)
    assert status == 200, data
    q = r.wait_state(gid, "succeed")
    assert [b["attempts"] for b in q["branches"]] == [1, 1]

    recs = k.wait_records(topic, 2)
    assert len(recs) == 2, recs
    by_branch = {rec["headers"]["branch_id"]: rec for rec in recs}
    first, second = by_branch["01"], by_branch["02"]
    assert first["key"] == gid
    assert first["payload"] == '{"amount":30}'
    assert first["headers"] == {"gid": gid, "trans_type": "msg", "branch_id": "01",
                                "op": "action", "X-Trace": "t1"}
    assert second["key"] == "acct-7"
    assert second["payload"] == "second"
    assert second["headers"]["op"] == "action" and second["headers"]["gid"] == gid
    # nothing more arrives later (produced once, not once per pass)
    stays(lambda: len(k.records(topic)) == 2, 1.0, "exactly two records", interval=0.25)


def test_bad_kafka_urls_are_refused_with_400(kafka, relay):
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    for url, problem in [("kafka://", "kafka topic must not be empty"),
                         ("kafka://a b", "kafka topic may contain only"),
                         ("kafka://t?partition=1", "kafka URL: the only query allowed is ?key=K"),
                         ("kafka://t?key=", "kafka key must not be empty")]:
        gid = new_gid("bad")
        status, data = r.post("prepare", msg_body(gid, [url]))
        assert status == 400, (url, status, data)
        assert data["dtm_result"] == "FAILURE"
        assert data["message"].startswith("steps[0].action: " + problem), (url, data)
        assert r.query(gid)["transaction"] is None


def test_kafka_step_is_refused_without_brokers(relay):
    r = relay()
    gid = new_gid("nokafka")
    for route in ("prepare", "submit"):
        status, data = r.post(route, msg_body(gid, ["kafka://orders"]))
        assert status == 400, (route, status, data)
        assert data["message"] == ("steps[0].action: kafka destinations are not configured "
                                   "on this relay"), data
    assert r.query(gid)["transaction"] is None


def test_message_with_http_and_kafka_steps_gets_both(kafka, app, relay):
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    topic = topic_name()
    gid = new_gid("mixed")
    status, data = r.post("submit", msg_body(gid, [app.url("/svc/in"), "kafka://" + topic],
                                             payloads=["to-http", "to-kafka"]))
    assert status == 200, data
    r.wait_state(gid, "succeed")
    calls = app.calls("/svc/in")
    assert len(calls) == 1 and calls[0].body == b"to-http"
    recs = k.wait_records(topic, 1)
    assert [(x["key"], x["payload"], x["headers"]["branch_id"]) for x in recs] == \
        [(gid, "to-kafka", "02")]


def test_broker_down_step_is_retried_and_delivered_when_it_returns(kafka, relay):
    k = kafka()
    r = relay(extra_args=["--kafka-brokers", k.bootstrap,
                          "--kafka-property", "message.timeout.ms=1000"])
    topic = topic_name()
    gid = new_gid("down")
    k.down()
    status, data = r.post("submit", msg_body(gid, ["kafka://" + topic]))
    assert status == 200, data

    def failed_once():
        b = branch(r.query(gid), "01")
        return b["attempts"] >= 1 and "timed out" in (b.get("last_error") or "")
    wait_for(failed_once, 10, lambda: "a timed-out attempt: %r" % r.query(gid))
    stays(lambda: r.state(gid) == "submitted", 1.0, "message stays submitted while down")

    k.up()
    q = r.wait_state(gid, "succeed", timeout=20)
    assert branch(q, "01")["attempts"] >= 2
    recs = k.wait_records(topic, 1)
    assert all(x["key"] == gid and x["headers"]["gid"] == gid for x in recs), recs


def test_sigterm_with_broker_down_exits_in_grace_and_delivers_after_restart(kafka, relay):
    k = kafka()
    r = relay(extra_args=["--kafka-brokers", k.bootstrap, "--shutdown-grace", "1"])
    topic = topic_name()
    gid = new_gid("term")
    k.down()
    status, data = r.post("submit", msg_body(gid, ["kafka://" + topic]))
    assert status == 200, data
    # claimed means produced: the pass queues its record in the turn that claims it
    wait_for(lambda: "\nmsgrelay_work_inflight 1\n" in r.metrics(), 5, "the record in flight")
    t0 = time.monotonic()
    assert r.kill(signal.SIGTERM, wait=15) == 0
    assert time.monotonic() - t0 < 8, "shutdown took longer than grace + purge"
    k.up()
    r.start()
    r.wait_state(gid, "succeed", timeout=20)
    assert len(k.wait_records(topic, 1)) >= 1


def test_relay_killed_mid_produce_every_record_arrives(kafka, relay):
    k = kafka("--rtt", "150")
    r = relay(kafka_brokers=k.bootstrap, claim_batch=4, max_inflight=4)
    topic = topic_name()
    gids = [new_gid("k9-%02d" % i) for i in range(40)]
    for g in gids:
        status, data = r.post("submit", msg_body(g, ["kafka://" + topic], payloads=[g]))
        assert status == 200, data

    def some_done():
        n = sum(1 for t in r.all(status="succeed", limit=100)["transactions"])
        return n >= 6
    wait_for(some_done, 15, "a few messages delivered", interval=0.05)
    r.kill(signal.SIGKILL)
    assert not r.alive()

    r.start()
    pending = set(gids)

    def all_done():
        for t in r.all(status="succeed", limit=100)["transactions"]:
            pending.discard(t["gid"])
        return not pending
    wait_for(all_done, 30, lambda: "all to succeed; pending %r" % sorted(pending)[:5])

    recs = k.wait_records(topic, len(gids))
    per_gid = Counter(x["key"] for x in recs)
    assert set(per_gid) == set(gids), set(gids) - set(per_gid)
    assert all(x["payload"] == x["key"] == x["headers"]["gid"] for x in recs)
    dups = sum(n - 1 for n in per_gid.values())
    print("records: %d for %d messages (%d duplicates)" % (len(recs), len(gids), dups))


def test_kafka_flag_errors_stop_the_relay_at_start(tmp_path):
    binary = relay_binary()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    base = [binary, "serve", "--port", str(free_port()), "--bind", "127.0.0.1",
            "--store", "sqlite:" + str(tmp_path / "r.db")]
    out = subprocess.run(base + ["--kafka-property", "linger.ms=1"], env=env,
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--kafka-property: needs --kafka-brokers" in out.stderr
    out = subprocess.run(base + ["--kafka-brokers", "127.0.0.1:1", "--kafka-property", "acks=1"],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "acks: fixed by msgrelay" in out.stderr, out.stderr
    out = subprocess.run(base + ["--kafka-brokers", "127.0.0.1:1",
                                 "--kafka-property", "no.such.thing=1"],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "no.such.thing" in out.stderr, out.stderr
    out = subprocess.run(base + ["--kafka-brokers", "127.0.0.1:1", "--lease", "10",
                                 "--kafka-property", "message.timeout.ms=20000"],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "does not fit in --lease" in out.stderr, out.stderr


def test_odd_gids_reach_kafka_intact_as_key_and_header(kafka, relay):
    # gids as DTM takes them: the record key and the gid header carry them byte for byte
    k = kafka()
    r = relay(kafka_brokers=k.bootstrap)
    topic = topic_name()
    tag = new_gid("")[1:]
    gids = ["a/b #" + tag, "p+q&r=%" + tag, "caf\u00e9 \u6f22\u5b57 \U0001F680" + tag]
    for gid in gids:
        assert r.post("submit", msg_body(gid, ["kafka://" + topic], payloads=["x"])) == \
            (200, {"dtm_result": "SUCCESS"})
    for gid in gids:
        r.wait_state(gid, "succeed")
    recs = k.wait_records(topic, len(gids))
    assert sorted(x["headers"]["gid"] for x in recs) == sorted(gids), recs
    assert all(x["key"] == x["headers"]["gid"] for x in recs), recs
