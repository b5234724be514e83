# SPDX-License-Identifier: MIT
"""One identity per live relay, and signals that must not stop it.

A port another relay listens on is a start-up error naming the address; two
live relays never share a relay id (the registry refuses the second) and so
never deliver each other's leased messages; a relay killed with -9 and
started again under its id takes its own leases back at once; SIGHUP is
logged and ignored.
"""
import os
import signal
import subprocess

from conftest import free_port, relay_binary
from e2e_helpers import msg_body, new_gid, stays, wait_for


def serve(argv, cwd, timeout=30):
    """Run `msgrelay serve ARGV` to its end (it is expected to refuse); the completed process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    return subprocess.run([relay_binary(), "serve"] + argv, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(cwd))


def test_a_port_in_use_is_a_start_up_error_naming_the_address(relay, tmp_path):
    first = relay(relay_id="first")
    # another store and another id: only the port is shared
    p = serve(["--port", str(first.port), "--bind", "127.0.0.1", "--relay-id", "second",
               "--store", "sqlite:" + str(tmp_path / "other.db")], tmp_path)
    assert p.returncode != 0, p
    assert "127.0.0.1:%d" % first.port in p.stderr, p.stderr
    assert "Address already in use" in p.stderr, p.stderr
    assert first.alive()
    assert first.get("/api/ping")[0] == 200


def test_sighup_is_logged_and_does_not_stop_the_relay(app, relay):
    r = relay()
    r.kill(signal.SIGHUP, wait=None)
    wait_for(lambda: "SIGHUP ignored" in r.log_tail(), 5, "the SIGHUP log line")
    assert "does not reload" in r.log_tail()
    stays(r.alive, 0.5, "the relay running after SIGHUP")
    gid = new_gid("hup")
    assert r.post("submit", msg_body(gid, [app.url("/svc/hup")]))[0] == 200
    r.wait_state(gid, "succeed")
    rc = r.kill(signal.SIGTERM, wait=15)
    assert rc == 0, rc
