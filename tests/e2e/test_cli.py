# SPDX-License-Identifier: MIT
"""The command line: --help on every command, flags and arguments in any order,
the options each command takes (the rest refused by name), `migrate` telling
what it applied, `--bind` with IPv6 and host names, errors that say why
(errno), and `--version` with the build's libraries.
"""
import glob
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import REPO, free_port, relay_binary
from e2e_helpers import msg_body, new_gid


def run(*args, cwd=None):
    """`msgrelay ARGS` without any MSGRELAY_* variable; the completed process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    return subprocess.run([relay_binary()] + list(args), capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def commands():
    """The commands `msgrelay --help` names in its Commands section."""
    p = run("--help")
    assert p.returncode == 0, p
    section = p.stdout.split("Commands", 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"^  ([a-z][a-z-]*) ", section, re.M)
    assert {"serve", "migrate", "show", "list", "redrive", "barrier-prune", "version"} <= \
        set(names), p.stdout
    return names


def schema_versions(engine="sqlite"):
    """The schema files of @engine (sql/ENGINE/) compiled in, as (version, name), in order."""
    out = []
    for f in sorted(glob.glob(os.path.join(REPO, "sql", engine, "*.sql"))):
        m = re.match(r"(\d+)_(.*)\.sql$", os.path.basename(f))
        out.append((int(m.group(1)), m.group(2)))
    return out


def has_ipv6_loopback():
    try:
        with open("/proc/net/if_inet6") as f:
            return any(line.split()[0] == "0" * 31 + "1" for line in f)
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on this machine")


# --------------------------------------------------------------------------
# --help
# --------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["--help", "-h"])
def test_every_command_prints_its_own_help(form):
    for name in commands():
        p = run(name, form)
        assert p.returncode == 0, (name, p.stderr)
        assert p.stdout.startswith("usage: msgrelay %s" % name), (name, p.stdout)
        assert p.stderr == "", (name, p.stderr)
    # a command's help lists the flags it takes, and only those
    p = run("list", "--store", "sqlite:x.db", form)
    assert p.returncode == 0 and "--limit" in p.stdout and "--store" in p.stdout, p
    assert "--port" not in p.stdout and "MSGRELAY_STORE" in p.stdout, p.stdout
    serve = run("serve", form).stdout
    assert "--port" in serve and "--retention-share" in serve, serve


def test_the_readme_configuration_table_is_the_help_table():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = re.findall(r"^\| `(--[a-z0-9-]+)` \| `(MSGRELAY_[A-Z0-9_]+)` \|", readme, re.M)
    shown = re.findall(r"^  (--[a-z0-9-]+) +(MSGRELAY_[A-Z0-9_]+) ", run("--help").stdout, re.M)
    assert table == shown


# --------------------------------------------------------------------------
# flags in any order, and which command takes which
# --------------------------------------------------------------------------

def test_show_and_list_take_their_flags_before_or_after_the_gid(app, relay):
    r = relay()
    gid = new_gid("cli")
    assert r.post("submit", msg_body(gid, [app.url("/svc/a")]))[0] == 200
    r.wait_state(gid, "succeed")
    store = r.argv[r.argv.index("--store") + 1]
    after = run("show", gid, "--store", store)
    before = run("show", "--store", store, gid)
    assert after.returncode == 0 and before.returncode == 0, (after.stderr, before.stderr)
    assert json.loads(before.stdout) == json.loads(after.stdout) == r.query(gid)
    p = run("list", "--store=" + store, "--limit", "1", "--state", "succeed")
    assert p.returncode == 0, p.stderr
    assert [t["gid"] for t in json.loads(p.stdout)["transactions"]] == [gid]
    # "--" ends the flags: a gid may start with a dash
    p = run("show", "--store", store, "--", "-no-such-gid")
    assert p.returncode == 1 and "no message with gid -no-such-gid" in p.stderr, p


@pytest.mark.parametrize("cmd,args,flag", [
    ("migrate", ["--port", "4000"], "--port"),
    ("migrate", ["--retry-limit", "3"], "--retry-limit"),
    ("migrate", ["--migrate"], "--migrate"),
    ("migrate", ["--bind=::1"], "--bind"),
    ("show", ["g1", "--kafka-brokers", "k:9092"], "--kafka-brokers"),
    ("list", ["--max-inflight", "10"], "--max-inflight"),
    ("redrive", ["--all", "--api-token", "x" * 20], "--api-token"),
    ("barrier-prune", ["--older-than", "7d", "--store"], "--store"),
])
def test_a_command_refuses_the_options_only_serve_takes_naming_them(tmp_path, cmd, args, flag):
    db = tmp_path / "m.db"
    p = run(cmd, *args, "sqlite:%s" % db) if cmd == "barrier-prune" else \
        run(cmd, "--store", "sqlite:%s" % db, *args)
    assert p.returncode == 2, p
    assert "%s: only `msgrelay serve` takes it" % flag in p.stderr, p.stderr
    assert "x" * 20 not in p.stderr
    assert not db.exists()   # refused before anything was done


def test_migrate_prints_each_migration_then_the_version(tmp_path):
    files = schema_versions()
    latest = files[-1][0]
    p = run("migrate", "--store", "sqlite:%s" % (tmp_path / "new.db"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["applied migration %03d %s" % f for f in files] + \
        ["store schema is at version %d" % latest]
    p = run("migrate", "--log-level", "warn", "--store", "sqlite:%s" % (tmp_path / "new.db"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "store schema already at version %d, nothing to apply\n" % latest


def test_serve_migrate_logs_each_migration(relay):
    r = relay(extra_args=["--migrate"])
    log = open(r.log_path).read()
    if not r.argv[r.argv.index("--store") + 1].startswith("sqlite:"):
        pytest.skip("the store was migrated before the relay started")
    for version, name in schema_versions():
        assert re.search(r'"msg":"store migration applied","version":"%d","name":"%s"'
                         % (version, name), log), log


# --------------------------------------------------------------------------
# --bind
# --------------------------------------------------------------------------

@needs_ipv6
@pytest.mark.parametrize("bind", ["::1", "[::1]"])
def test_serve_on_ipv6_loopback_answers_over_ipv6(relay, bind):
    r = relay(bind=bind)       # started: it answered /api/ping on [::1]
    assert r.host == "::1"
    with socket.create_connection(("::1", r.port), timeout=5) as s:
        s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b'"pong"' in s.recv(4096)
    with pytest.raises(OSError):   # and on IPv6 only
        socket.create_connection(("127.0.0.1", r.port), timeout=2).close()
    r.stop()
    assert "open to anyone" not in open(r.log_path).read()   # ::1 is loopback


def test_serve_on_a_host_name(relay):
    r = relay(bind="localhost")
    assert r.get("/api/ping")[0] == 200
    r.stop()
    assert "open to anyone" not in open(r.log_path).read()


def test_a_name_that_does_not_resolve_stops_the_start(tmp_path):
    p = run("serve", "--bind", "no-such-host.invalid", "--port", str(free_port()),
            "--store", "sqlite:%s" % (tmp_path / "r.db"), cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "--bind: cannot resolve 'no-such-host.invalid'" in p.stderr, p.stderr


@needs_ipv6
def test_an_ipv6_port_in_use_says_why(tmp_path):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as held:
        held.bind(("::1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        p = run("serve", "--bind", "::1", "--port", str(port),
                "--store", "sqlite:%s" % (tmp_path / "r.db"), cwd=str(tmp_path))
    assert p.returncode == 1, p
    assert "cannot listen on [::1]:%d: Address already in use" % port in p.stderr, p.stderr


# --------------------------------------------------------------------------
# errors say why; --version
# --------------------------------------------------------------------------

def test_start_up_errors_carry_the_system_reason(tmp_path):
    missing = tmp_path / "no-dir" / "r.db"
    p = run("migrate", "--store", "sqlite:%s" % missing)
    assert p.returncode == 1 and "No such file or directory" in p.stderr, p
    p = run("show", "g1", "--store", "sqlite:%s" % missing)
    assert p.returncode == 1 and "No such file or directory" in p.stderr, p
    p = run("serve", "--api-token-file", str(tmp_path / "nothing"), "--port", str(free_port()))
    assert p.returncode == 2 and "No such file or directory" in p.stderr, p


@pytest.mark.parametrize("form", ["--version", "version"])
def test_version_prints_the_build_and_its_libraries(form):
    p = run(form)
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert re.match(r"msgrelay \d+\.\d+\.\d+$", lines[0]), p.stdout
    for lib in ("libmicrohttpd", "libcurl", "sqlite", "librdkafka", "MariaDB Connector/C",
                "libpq", "jansson"):
        assert re.search(r"^%s: +\d+\.\d+" % re.escape(lib), p.stdout, re.M), (lib, p.stdout)
    assert re.search(r"^built: +.* with (gcc|clang) \d", p.stdout, re.M), p.stdout
