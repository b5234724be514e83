# SPDX-License-Identifier: MIT
"""compose.yaml: valid for Debian's docker-compose (`docker-compose config`,
which needs no Docker engine), and wired as the stack promises: MariaDB,
Kafka (KRaft, one node), msgrelay built from this repository on MariaDB with
Kafka, and the transfer example, each with a health check, started in order
of health; and the `postgres` profile, a second relay on PostgreSQL."""
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
COMPOSE = os.path.join(REPO, "compose.yaml")

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="docker-compose not installed (scripts/deps installs it)")


def compose(*args):
    return subprocess.run(["docker-compose", "-f", COMPOSE, "--project-directory", REPO] +
                          list(args), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config():
    yaml = pytest.importorskip("yaml")
    r = compose("config")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_compose_config_is_valid_and_quiet():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)


def test_compose_has_the_four_services_each_with_a_health_check(config):
    services = config["services"]
    default = {n for n, svc in services.items() if not svc.get("profiles")}
    assert default == {"mariadb", "kafka", "msgrelay", "transfer"}
    assert set(services) - default == {"postgres", "msgrelay-pg"}
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), "%s has no health check" % name


def test_compose_postgres_profile_runs_a_relay_on_postgresql(config):
    db = config["services"]["postgres"]
    svc = config["services"]["msgrelay-pg"]
    assert db["profiles"] == ["postgres"] and svc["profiles"] == ["postgres"]
    assert "pg_isready" in db["healthcheck"]["test"]
    assert os.path.realpath(svc["build"]["context"]) == REPO
    cmd = svc["command"]
    store = cmd[cmd.index("--store") + 1]
    assert store.startswith("postgres://") and "@postgres:5432/" in store, store
    assert "--migrate" in cmd
    assert cmd[cmd.index("--relay-id") + 1] != "msgrelay-1"
    assert svc["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "kafka": {"condition": "service_healthy"}}
    assert svc["healthcheck"]["test"][-1] == "http://127.0.0.1:36789/api/ready"


def test_compose_kafka_is_a_single_kraft_node(config):
    env = config["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_compose_msgrelay_is_built_here_and_runs_on_mariadb_with_kafka(config):
    svc = config["services"]["msgrelay"]
    assert os.path.realpath(svc["build"]["context"]) == REPO
    assert os.path.isfile(os.path.join(REPO, svc["build"].get("dockerfile", "Dockerfile")))
    cmd = svc["command"]
    assert cmd[0] == "serve"
    store = cmd[cmd.index("--store") + 1]
    assert store.startswith("mysql://") and "@mariadb:3306/" in store, store
    assert "--migrate" in cmd
    assert cmd[cmd.index("--kafka-brokers") + 1] == "kafka:9092"
    assert svc["depends_on"] == {"mariadb": {"condition": "service_healthy"},
                                 "kafka": {"condition": "service_healthy"}}
    assert "36789:36789" in [str(p) if isinstance(p, str) else "%s:%s" % (p["published"],
                                                                          p["target"])
                             for p in svc["ports"]]


def test_compose_msgrelay_health_is_readiness(config):
    # healthy means the store (and Kafka) answer, not only that the process is alive
    test = config["services"]["msgrelay"]["healthcheck"]["test"]
    assert test[-1] == "http://127.0.0.1:36789/api/ready", test


def test_compose_transfer_example_waits_for_the_relay(config):
    svc = config["services"]["transfer"]
    assert svc["entrypoint"] == ["transfer"]
    cmd = svc["command"]
    assert cmd[cmd.index("--relay") + 1] == "http://msgrelay:36789/api/dtmsvr"
    assert cmd[cmd.index("--db") + 1].startswith("mysql://bank:")
    assert cmd[cmd.index("--bind") + 1] == "0.0.0.0"
    assert svc["depends_on"]["msgrelay"] == {"condition": "service_healthy"}
    assert svc["depends_on"]["mariadb"] == {"condition": "service_healthy"}


def test_compose_mariadb_creates_the_barrier_table_and_the_bank(config):
    mounts = [v if isinstance(v, str) else "%s:%s" % (v["source"], v["target"])
              for v in config["services"]["mariadb"]["volumes"]]
    init = [m for m in mounts if "/docker-entrypoint-initdb.d/" in m]
    sources = [os.path.relpath(m.split(":")[0], REPO) for m in init]
    assert sources == ["sql/barrier/mysql.sql", "examples/transfer/compose-init.sql"], sources
    for s in sources:
        assert os.path.isfile(os.path.join(REPO, s))
