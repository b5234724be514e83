# SPDX-License-Identifier: MIT
"""msgrelay on a private 3-node MariaDB Galera cluster (tests/e2e/galera.py):
three relays with multi-host store URIs, each preferring another node, under
load while a node is SIGKILLed and later rejoins by IST; a node cut off from
the others (1047 to every statement) under load; and two `msgrelay migrate`
runs on two nodes at once. Run by `make test-cluster`.

Synchronisation is polling with deadlines; the submitters pace themselves
with short sleeps, which is load shaping, not synchronisation.
"""
import collections
import os
import subprocess
import threading
import time

from e2e_conftest import relay_binary
from e2e_helpers import msg_body, new_gid, wait_for

TOTAL = 3000       # submits, spread over the three relays
SUBMITTERS = 6     # client threads
FAILOVER_S = 10    # a relay whose node died accepts again within this


def migrate(uri, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([relay_binary(), "migrate", "--store", uri], capture_output=True,
                       text=True, timeout=120, env=env)
    if check:
        assert p.returncode == 0, "migrate failed (%s): %s" % (p.returncode, p.stderr)
    return p


def states(cluster, database):
    out = {}
    for line in cluster.sql("SELECT gid, state FROM msg", database).splitlines():
        gid, state = line.split("\t")
        out[gid] = state
    return out


def connections(node, database):
    """How many client connections node @node has open on @database."""
    try:
        return int(node.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                            "WHERE DB = '%s' AND USER = 'msgrelay'" % database).strip())
    except Exception:
        return 0


def error_lines(r):
    return [ln for ln in r.log_tail(100000).splitlines() if '"level":"error"' in ln]


def test_three_relays_on_three_nodes_survive_a_node_kill_and_use_it_again(
        app, relay, cluster):
    database = cluster.create_database("relay_failover")
    migrate(cluster.uri(database))
    app.set_default("/svc", delay=0.005)
    # relay i prefers node i, then the next ones
    relays = [relay(store=cluster.uri(database, first=i), relay_id="r%d" % i, lease=10,
                    request_timeout=2, retry_interval=1, poll_interval_ms=100,
                    log_level="info")
              for i in range(3)]
    victim_node = 1
    victim = relays[victim_node]
    wait_for(lambda: connections(cluster.nodes[victim_node], database) > 0, 10,
             "relay 1 to be connected to node 1")

    lock = threading.Lock()
    accepted = []
    answers = collections.Counter()
    others = []              # (status, body) of answers other than 200 and 503
    after_kill = {}          # relay index -> [(t, status)] of its answers after the kill
    killed_at = [None]
    stop = threading.Event()
    counter = iter(range(TOTAL))

    def submitter():
        while not stop.is_set():
            with lock:
                i = next(counter, None)
            if i is None:
                return
            k = i % 3
            gid = new_gid("gal%d-" % k)
            try:
                status, data = relays[k].post("submit", msg_body(gid, [app.url("/svc")]),
                                              timeout=15)
            except OSError:
                status, data = 0, "connection failed"
            with lock:
                answers[status] += 1
                if status == 200:
                    accepted.append(gid)
                elif status != 503:
                    others.append((status, data))
                if killed_at[0] is not None:
                    after_kill.setdefault(k, []).append((time.monotonic(), status))
            time.sleep(0.002)

    threads = [threading.Thread(target=submitter) for _ in range(SUBMITTERS)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(accepted) >= TOTAL // 3, 120, "a third of the load accepted")
        cluster.kill(victim_node)
        killed_at[0] = time.monotonic()
        for t in threads:
            t.join(300)
    finally:
        stop.set()
        for t in threads:
            t.join(30)

    # failover: the relay of the dead node answered 200 again within FAILOVER_S
    seen = after_kill.get(victim_node, [])
    first_ok = next((t for t, s in seen if s == 200), None)
    assert first_ok is not None, "relay 1 never accepted again after its node died"
    print("\nrelay 1 accepted again %.2fs after its node was killed; answers: %r"
          % (first_ok - killed_at[0], dict(answers)))
    assert first_ok - killed_at[0] < FAILOVER_S
    assert others == [], "answers other than 200 or 503: %r" % others[:5]
    assert answers[500] == 0
    assert len(accepted) > TOTAL // 2

    # the node comes back from its crash by IST and relay 1 goes back to it
    pos = cluster.rejoin(victim_node)
    assert cluster.joined_by_ist(victim_node), "node 1 did not rejoin by IST (%s)" % pos
    rejoined = time.monotonic()

    node1 = "127.0.0.1:%d" % cluster.nodes[victim_node].port

    def back_on_node1():
        # a submit makes the writer's connection look at its preferred host again
        relays[victim_node].post("submit", msg_body(new_gid("back"), [app.url("/svc")]))
        back = [ln for ln in victim.log_tail(100000).splitlines()
                if '"msg":"store connected to another host"' in ln
                and '"host":"%s"' % node1 in ln]
        return back and connections(cluster.nodes[victim_node], database) > 0
    wait_for(back_on_node1, 30, "relay 1 to connect to node 1 again", interval=0.5)
    print("relay 1 back on node 1 %.1fs after the node rejoined" % (time.monotonic() - rejoined))

    # nothing accepted is lost: every accepted gid ends succeed and reached the sink
    def all_succeed():
        st = states(cluster, database)
        left = [g for g in accepted if st.get(g) != "succeed"]
        return not left or None
    wait_for(all_succeed, 120, lambda: "every accepted message to succeed; %d not yet"
             % sum(1 for g in accepted if states(cluster, database).get(g) != "succeed"))
    calls = collections.Counter(c.params.get("gid") for c in app.calls() if c.path == "/svc")
    lost = [g for g in accepted if calls[g] == 0]
    assert lost == [], "accepted but never delivered: %r" % lost[:10]
    dups = sum(n - 1 for n in calls.values() if n > 1)
    print("%d accepted, %d delivered twice" % (len(accepted), dups))
    # conflicts between nodes are retried quietly, never logged as errors
    for r in relays:
        noisy = [ln for ln in error_lines(r) if "Deadlock" in ln or "conflict" in ln]
        assert noisy == [], noisy[:3]
    conflicts = 0
    for r in relays:
        for line in r.metrics().splitlines():
            if line.startswith("msgrelay_store_conflicts_total "):
                conflicts += int(float(line.split()[1]))
    print("store conflicts retried: %d" % conflicts)
    assert all(r.alive() for r in relays)


def test_a_node_that_leaves_the_primary_component_is_left_with_no_500(app, relay, cluster):
    """Node 2 cut off from the others (gmcast.isolate) answers 1047 "WSREP has not yet
    prepared node" to everything: the relay that prefers it moves to another node (503 at
    worst, never 500), and goes back once node 2 is synced again."""
    database = cluster.create_database("relay_isolate")
    migrate(cluster.uri(database))
    app.set_default("/svc", delay=0.005)
    r = relay(store=cluster.uri(database, first=2), relay_id="iso", lease=10, request_timeout=2,
              retry_interval=1, poll_interval_ms=100, log_level="info")
    node2 = cluster.nodes[2]
    where2 = "127.0.0.1:%d" % node2.port
    answers = collections.Counter()
    accepted = []
    stop = threading.Event()

    def submitter():
        while not stop.is_set():
            gid = new_gid("iso")
            try:
                status, _ = r.post("submit", msg_body(gid, [app.url("/svc")]), timeout=15)
            except OSError:
                status = 0
            answers[status] += 1
            if status == 200:
                accepted.append(gid)
            time.sleep(0.01)

    def moves(to_node2):
        return [ln for ln in r.log_tail(100000).splitlines()
                if '"msg":"store connected to another host"' in ln
                and ('"host":"%s"' % where2 in ln) == to_node2]

    threads = [threading.Thread(target=submitter) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(accepted) >= 50, 30, "submits accepted on node 2")
        node2.sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
        isolated = time.monotonic()
        wait_for(lambda: moves(False), 15, "the relay to leave node 2")
        left_after = time.monotonic() - isolated
        n = len(accepted)
        wait_for(lambda: len(accepted) >= n + 50, FAILOVER_S, "submits accepted on another node")
        node2.sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
        node2.wait_synced(120)
        # back within the probe interval (5 s, doubling while node 2 was away)
        wait_for(lambda: moves(True), 60, "the relay to go back to node 2")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    print("\nleft the isolated node after %.1fs; answers: %r" % (left_after, dict(answers)))
    assert answers[500] == 0, dict(answers)
    assert set(answers) <= {200, 503}, dict(answers)
    st = {}
    wait_for(lambda: st.update(states(cluster, database)) or
             all(st.get(g) == "succeed" for g in accepted), 60,
             "every accepted message to succeed")
    assert not [ln for ln in error_lines(r) if "Deadlock" in ln]


def test_two_migrations_on_two_nodes_do_not_interleave(cluster):
    """`msgrelay migrate` on node 0 and on node 1 at the same moment, on fresh databases:
    both succeed, and every schema version is applied once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    for round_ in range(3):
        database = cluster.create_database("migrate_race_%d" % round_)
        # a one-host URI per node
        uris = ["mysql://msgrelay:msgrelay@127.0.0.1:%d/%s" % (cluster.nodes[i].port, database)
                for i in range(2)]
        procs = [subprocess.Popen([relay_binary(), "migrate", "--store", u],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env) for u in uris]
        outs = [p.communicate(timeout=180) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, "round %d: migrate failed: %s" % (round_, err)
        versions = cluster.sql("SELECT version FROM schema_version", database).split()
        assert len(versions) == len(set(versions)), "a version applied twice: %r" % versions
        holder = cluster.sql("SELECT owner FROM migrate_lock", database).strip()
        assert holder == "", "the lock was not given back: %r" % holder
