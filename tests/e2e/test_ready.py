# SPDX-License-Identifier: MIT
"""GET /api/ready: 200 {"status":"ready"} while the store answers (and Kafka, when
configured); 503 {"status":"not ready","reason":...} otherwise, answered at once
from the state a probe thread keeps. /api/ping stays "the process is alive".
"""
import time

import pytest

from conftest import free_port
from e2e_helpers import wait_for
from mariadb import MariaDB
from test_kafka import KafkaMock
from test_mysql import fresh_uri


def ready(r):
    """(status, body, seconds the answer took); the answer must come within 2 s."""
    t = time.monotonic()
    status, data = r.get("/api/ready", timeout=2)
    return status, data, time.monotonic() - t


def wait_ready(r, want, timeout, reason=None):
    last = {}

    def check():
        status, data, took = ready(r)
        last["got"] = (status, data, took)
        assert took < 2, last["got"]
        if status != want:
            return None
        if reason is not None and reason not in data.get("reason", ""):
            return None
        return data
    return wait_for(check, timeout, lambda: "ready %s (%s); last %r" % (want, reason, last))


def test_ready_is_200_when_the_store_answers_and_open_with_tokens(relay):
    r = relay(api_token="api-0123456789abcdef", admin_token="admin-0123456789abcdef")
    data = wait_ready(r, 200, 5)
    assert data == {"status": "ready"}
    status, data = r.get("/api/ping")
    assert status == 200 and data == {"msg": "pong"}
    assert 'route="ready"' in r.metrics()


def test_ready_is_503_while_mariadb_is_down_and_200_after_it_returns(app, relay, tmp_path):
    db = MariaDB(str(tmp_path / "db"))
    db.start()
    try:
        r = relay(store=fresh_uri(db, "ready"))
        wait_ready(r, 200, 10)
        db.stop()
        data = wait_ready(r, 503, 10, "store")
        assert data["status"] == "not ready", data
        # no host, port or credentials on this open route
        assert "127.0.0.1" not in data["reason"] and "@" not in data["reason"], data
        assert r.get("/api/ping")[0] == 200   # alive all the same
        for _ in range(5):
            status, _, took = ready(r)
            assert status == 503 and took < 2
        db.restart()
        wait_ready(r, 200, 30)
    finally:
        db.close()


def test_ready_names_kafka_when_no_broker_answers(relay):
    r = relay(kafka_brokers="127.0.0.1:%d" % free_port())
    data = wait_ready(r, 503, 15, "kafka")
    assert data["status"] == "not ready" and "kafka" in data["reason"], data
    assert r.get("/api/ping")[0] == 200


@pytest.fixture
def kafka_mock():
    m = KafkaMock()
    try:
        yield m
    finally:
        m.stop()


def test_ready_follows_the_kafka_cluster(relay, kafka_mock):
    r = relay(kafka_brokers=kafka_mock.bootstrap)
    wait_ready(r, 200, 15)
    kafka_mock.down()
    wait_ready(r, 503, 15, "kafka")
    kafka_mock.up()
    wait_ready(r, 200, 30)
