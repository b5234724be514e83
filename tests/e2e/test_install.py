# SPDX-License-Identifier: MIT
"""`make install` into a temporary prefix, and what an integrator does with it:
build a producer with `pkg-config --cflags --libs msgrelay` alone (its includes
pull in no mysql.h, its library needs no libmysqlclient or librdkafka) and run
it against a relay and a sink; build a back-check server with
msgrelay-barrier and a consumer with msgrelay-consumer against the shared
libraries; the header examples compile; the man page renders and lists every
option of `msgrelay --help`; the systemd unit verifies; `make uninstall`
removes what install put there."""
import os
import re
import shutil
import subprocess

import pytest

from e2e_helpers import msg_body, new_gid
from sdk_helpers import REPO, build_dir, fetch

SAN = os.path.basename(build_dir().rstrip("/")) == "build-san"
SAN_FLAGS = ["-fsanitize=address,undefined"] if SAN else []
SDK_LIBS = ["libmsgrelay", "libmsgrelay-barrier", "libmsgrelay-consumer"]
PUBLIC_PREFIXES = ("mr_client_", "mr_barrier_", "mr_consumer_", "mr_backcheck_")


def make(*args, **kw):
    argv = ["make", "--no-print-directory", "-C", REPO] + (["SAN=1"] if SAN else []) + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    assert p.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(argv), p.stdout[-3000:],
                                                     p.stderr[-3000:])
    return p


def sdk_version():
    with open(os.path.join(REPO, "include", "msgrelay", "msgrelay.h")) as f:
        return re.search(r'#define MR_SDK_VERSION "([^"]+)"', f.read()).group(1)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("prefix"))
    make("install", "PREFIX=" + p)
    return p


def pkg_config(prefix, *args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    p = subprocess.run(["pkg-config"] + list(args), capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def cc(prefix, sources, out, pc, extra=(), compile_only=False):
    """Build @sources with the flags of pkg-config module @pc and nothing else."""
    flags = pkg_config(prefix, "--cflags", pc) + ([] if compile_only else
                                                   pkg_config(prefix, "--libs", pc))
    argv = (["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + SAN_FLAGS + list(extra) +
            (["-c"] if compile_only else []) + list(sources) + ["-o", out] + flags)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "%s\n%s" % (" ".join(argv), p.stderr)
    return out


def run_env(prefix):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    env["LD_LIBRARY_PATH"] = os.path.join(prefix, "lib")
    return env


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


# --------------------------------------------------------------------------
# what is installed
# --------------------------------------------------------------------------

def test_install_puts_everything_in_the_prefix(prefix):
    v = sdk_version()
    major = v.split(".")[0]
    expect = ["bin/msgrelay", "share/man/man1/msgrelay.1", "lib/systemd/system/msgrelay.service",
              "share/doc/msgrelay/LICENSE", "share/doc/msgrelay/msgrelay.env"]
    for h in ("client.h", "client_db.h", "barrier.h", "backcheck.h", "consumer.h", "msgrelay.h",
              "barrier_common.h", "barrier_pg.h", "client_db_pg.h", "consumer_common.h",
              "consumer_pg.h"):
        expect.append("include/msgrelay/" + h)
    for lib in SDK_LIBS:
        expect += ["lib/%s.a" % lib, "lib/%s.so.%s" % (lib, v),
                   "lib/pkgconfig/%s.pc" % lib[3:]]
        assert os.readlink(os.path.join(prefix, "lib", lib + ".so")) == "%s.so.%s" % (lib, major)
        assert os.readlink(os.path.join(prefix, "lib", "%s.so.%s" % (lib, major))) == \
            "%s.so.%s" % (lib, v)
        out = subprocess.run(["readelf", "-d", os.path.join(prefix, "lib", "%s.so.%s" % (lib, v))],
                             capture_output=True, text=True).stdout
        assert "Library soname: [%s.so.%s]" % (lib, major) in out, out
    missing = [e for e in expect if not os.path.isfile(os.path.join(prefix, e))]
    assert not missing, missing
    p = subprocess.run([os.path.join(prefix, "bin", "msgrelay"), "version"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and v in p.stdout


def test_shared_libraries_export_only_the_public_api(prefix):
    v = sdk_version()
    for lib in SDK_LIBS:
        path = os.path.join(prefix, "lib", "%s.so.%s" % (lib, v))
        out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True,
                             text=True).stdout
        names = [line.split()[-1] for line in out.splitlines() if line.strip()]
        assert names, lib
        private = [n for n in names if not n.startswith(PUBLIC_PREFIXES) or "__" in n]
        assert not private, "%s exports internal symbols: %s" % (lib, private[:20])
    # the producer library needs neither a database client nor librdkafka nor libmicrohttpd
    deps = needed(os.path.join(prefix, "lib", "libmsgrelay.so.%s" % v))
    assert not [d for d in deps if re.match(r"lib(mariadb|mysqlclient|pq|rdkafka|microhttpd)",
                                            d)], deps
    assert not [d for d in needed(os.path.join(prefix, "lib", "libmsgrelay-barrier.so.%s" % v))
                if d.startswith("librdkafka")]


def test_pkg_config_splits_producer_barrier_and_consumer(prefix):
    producer = " ".join(pkg_config(prefix, "--cflags", "--libs", "msgrelay"))
    assert "-lmsgrelay" in producer.split()
    assert not re.search(r"mariadb|mysql|postgresql|-lpq|rdkafka|microhttpd", producer), producer
    static = pkg_config(prefix, "--static", "--libs", "msgrelay")
    assert "-lcurl" in static and "-ljansson" in static and "-lmariadb" not in static, static
    barrier = pkg_config(prefix, "--cflags", "--libs", "msgrelay-barrier")
    assert barrier.index("-lmsgrelay-barrier") < barrier.index("-lmsgrelay"), barrier
    assert "rdkafka" not in " ".join(barrier) and "mariadb" in " ".join(barrier), barrier
    assert "-lpq" in barrier, barrier
    consumer = pkg_config(prefix, "--static", "--libs", "msgrelay-consumer")
    assert "-lrdkafka" in consumer and "-lmsgrelay-consumer" in consumer, consumer


# --------------------------------------------------------------------------
# programs built against the installed SDK
# --------------------------------------------------------------------------

def test_producer_built_with_pkg_config_alone_delivers(prefix, relay, app, tmp_path):
    """examples/producer/producer.c, built as an integrator would, submits a
    message that reaches the sink."""
    relay = relay()
    src = os.path.join(REPO, "examples", "producer", "producer.c")
    # its includes pull in no mysql.h / rdkafka.h / microhttpd.h ...
    p = subprocess.run(["cc", "-M", src] + pkg_config(prefix, "--cflags", "msgrelay"),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "msgrelay/client.h" in p.stdout
    assert not re.search(r"mysql\.h|rdkafka\.h|microhttpd\.h|msgrelay/barrier\.h", p.stdout), \
        p.stdout
    # ... and a mysql.h that cannot be included changes nothing
    fake = tmp_path / "fake"
    (fake / "librdkafka").mkdir(parents=True)
    (fake / "mysql.h").write_text("#error a producer must not need mysql.h\n")
    (fake / "librdkafka" / "rdkafka.h").write_text("#error a producer must not need rdkafka.h\n")
    prog = cc(prefix, [src], str(tmp_path / "producer"), "msgrelay", extra=["-I" + str(fake)])
    libs = subprocess.run(["ldd", prog], capture_output=True, text=True,
                          env=run_env(prefix)).stdout
    assert os.path.join(prefix, "lib", "libmsgrelay.so.") in libs, libs
    assert not re.search(r"libmariadb|libmysqlclient|librdkafka", libs), libs

    p = subprocess.run([prog, relay.base + "/api/dtmsvr", app.url("/sink/created"),
                        '{"order":7}'], capture_output=True, text=True, timeout=60,
                       env=run_env(prefix))
    assert p.returncode == 0, p.stderr
    gid = p.stdout.strip()
    assert gid, p.stdout
    call = app.wait_calls("/sink/created", 1, timeout=20)[0]
    assert call.body == b'{"order":7}' and call.params.get("gid") == gid
    relay.wait_state(gid, "succeed", timeout=20)


def test_producer_example_built_by_make(relay, app):
    """build/examples/producer/producer (make builds it against the installable
    libmsgrelay.a alone): a message to the sink, then a refused one."""
    relay = relay()
    prog = os.path.join(build_dir(), "examples", "producer", "producer")
    assert os.access(prog, os.X_OK), "run make: %s is missing" % prog
    libs = subprocess.run(["ldd", prog], capture_output=True, text=True).stdout
    assert not re.search(r"libmariadb|libmysqlclient|libpq|librdkafka|libmicrohttpd", libs), libs
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([prog, relay.base + "/api/dtmsvr", app.url("/sink/made"), '{"n":1}'],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    gid = p.stdout.strip()
    call = app.wait_calls("/sink/made", 1, timeout=20)[0]
    assert call.body == b'{"n":1}' and call.params.get("gid") == gid
    # a step the relay refuses: the SDK's message, a non-zero exit, nothing delivered
    p = subprocess.run([prog, relay.base + "/api/dtmsvr", "ftp://nowhere/x", "{}"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1 and "producer: einval:" in p.stderr, (p.returncode, p.stderr)
    p = subprocess.run([prog], capture_output=True, text=True, timeout=10, env=env)
    assert p.returncode == 2 and "usage:" in p.stderr


def header_examples(path):
    """The code blocks after an " * Example" line of @path's comments, uncommented."""
    blocks = []
    lines = open(path).read().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith(" * Example"):
            code = []
            i += 1
            while i < len(lines) and re.match(r"^ \*(   .*)?$", lines[i]):
                code.append(lines[i][5:])
                i += 1
            if any(c.strip() for c in code):
                blocks.append("\n".join(code))
        i += 1
    return blocks


@pytest.mark.parametrize("header,pc", [("client.h", "msgrelay"),
                                       ("client_db.h", "msgrelay-barrier"),
                                       ("client_db_pg.h", "msgrelay-barrier")])
def test_header_examples_compile(prefix, tmp_path, header, pc):
    path = os.path.join(prefix, "include", "msgrelay", header)
    blocks = header_examples(path)
    assert blocks, "no example in %s" % header
    for n, code in enumerate(blocks):
        src = tmp_path / ("%s-%d.c" % (header[:-2], n))
        src.write_text("#include <msgrelay/%s>\n\n%s\n" % (header, code))
        cc(prefix, [str(src)], str(tmp_path / ("ex%d.o" % n)), pc, compile_only=True)


BACKCHECK_PROG = r"""
#include <stdio.h>
#include <msgrelay/backcheck.h>
#include <msgrelay/client.h>

/* argv[1]: the app's database; prints the port, serves until stdin closes */
int main(int argc, char **argv)
{
    struct mr_backcheck_opts o = {0};
    struct mr_backcheck_server *s;
    char err[512];

    if (argc != 2 || mr_client_global_init() != MR_CLIENT_SUCCESS ||
        mysql_library_init(0, NULL, NULL) != 0)
        return 2;
    o.mysql_uri = argv[1];
    if (mr_backcheck_server_start(&s, &o, err, sizeof err) != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    printf("%u\n", mr_backcheck_server_port(s));
    fflush(stdout);
    while (getchar() != EOF)
        ;
    mr_backcheck_server_stop(s);
    mysql_library_end();
    mr_client_global_cleanup();
    return 0;
}
"""


def test_backcheck_server_built_with_msgrelay_barrier(prefix, relay, app, mariadb, tmp_path):
    """A program built with pkg-config msgrelay-barrier (shared) serves the
    relay's back-check from the barrier table: a committed local transaction
    is delivered, one that never ran fails its message."""
    relay = relay()
    db = mariadb.create_database("app_" + new_gid("b").replace("-", "_"))
    with open(os.path.join(REPO, "sql", "barrier", "mysql.sql")) as f:
        mariadb.sql(f.read())
    src = tmp_path / "backcheck.c"
    src.write_text(BACKCHECK_PROG)
    prog = cc(prefix, [str(src)], str(tmp_path / "backcheck"), "msgrelay-barrier")
    assert any(n.startswith("libmsgrelay-barrier.so.") for n in needed(prog)), needed(prog)
    proc = subprocess.Popen([prog, mariadb.uri(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=run_env(prefix))
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), (line, proc.stderr.read() if proc.poll() is not None else "")
        qp = "http://127.0.0.1:%s/api/QueryPrepared" % line.strip()
        # no gid: a bad request, nothing touched
        assert fetch("GET", qp)[0] == 400
        committed, never = new_gid("bc-ok"), new_gid("bc-never")
        mariadb.sql("INSERT INTO dtm_barrier.barrier (trans_type, gid, branch_id, op, barrier_id,"
                    " reason) VALUES ('msg', '%s', '00', 'msg', '01', 'msg')" % committed)
        for gid in (committed, never):
            status, ans = relay.post("prepare", msg_body(gid, [app.url("/sink/" + gid)],
                                                         query_prepared=qp))
            assert status == 200, ans
        relay.wait_state(committed, "succeed", timeout=30)
        relay.wait_state(never, "failed", timeout=30)
        assert app.count("/sink/" + committed) >= 1 and app.count("/sink/" + never) == 0
        rows = mariadb.sql("SELECT gid, reason FROM dtm_barrier.barrier WHERE gid IN ('%s','%s')"
                           " ORDER BY reason" % (committed, never))
        assert rows.split() == [committed, "msg", never, "rollback"], rows
        # the answer envelope, as DTM's QueryPrepared handlers give it
        assert fetch("GET", qp + "?gid=" + committed) == (200, {"dtm_result": "SUCCESS"})
        assert fetch("GET", qp + "?gid=" + never) == (409, {"dtm_result": "FAILURE"})
        assert fetch("GET", qp.replace("/api/QueryPrepared", "/elsewhere"))[0] == 404
        # bounded: a body over the cap (64 KiB by default) is refused, not read into memory
        assert fetch("POST", qp.replace("/api/QueryPrepared", "/elsewhere"),
                     {"pad": "x" * (65 * 1024)})[0] == 413
        assert fetch("POST", qp + "?gid=" + committed)[0] == 405
    finally:
        proc.stdin.close()
        proc.wait(20)
    assert proc.returncode == 0, proc.stderr.read()


BARRIER_PG_PROG = r"""
#include <stdio.h>
#include <msgrelay/barrier_pg.h>

/* the branch's work: one row in `done`, in the barrier's transaction */
static int work(PGconn *db, void *arg)
{
    const char *v[1] = {arg};
    PGresult *r = PQexecParams(db, "INSERT INTO done (gid) VALUES ($1)", 1, NULL, v, NULL,
                               NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? MR_BARRIER_SUCCESS : MR_BARRIER_ERROR;

    PQclear(r);
    return rc;
}

/* argv[1]: the app's database, argv[2]: a gid; prints each call's result */
int main(int argc, char **argv)
{
    PGconn *db = NULL;
    char err[512];
    int i;

    if (argc != 3 || mr_barrier_connect_pg(&db, argv[1], err, sizeof err) != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "connect: %s\n", argc == 3 ? err : "usage");
        return 2;
    }
    for (i = 0; i < 2; i++) {
        struct mr_barrier *b = NULL;
        int rc = mr_barrier_new(&b, "msg", argv[2], "01", "action", err, sizeof err);

        if (rc == MR_BARRIER_SUCCESS)
            rc = mr_barrier_call_pg(b, db, work, argv[2], err, sizeof err);
        printf("%s\n", mr_barrier_result_name(rc));
        mr_barrier_free(b);
    }
    for (i = 0; i < 2; i++)
        printf("%s\n", mr_barrier_result_name(mr_barrier_query_prepared_pg(db, NULL, argv[2],
                                                                            err, sizeof err)));
    PQfinish(db);
    return 0;
}
"""


def test_postgres_barrier_program_built_with_msgrelay_barrier(prefix, tmp_path):
    """A PostgreSQL program built with pkg-config msgrelay-barrier: it includes
    msgrelay/barrier_pg.h, not mysql.h; a branch applies once, and the
    back-check of a message whose local transaction never ran refuses it."""
    from postgres import Postgres
    src = tmp_path / "barrier_pg.c"
    src.write_text(BARRIER_PG_PROG)
    deps = subprocess.run(["cc", "-M", str(src)] + pkg_config(prefix, "--cflags",
                                                               "msgrelay-barrier"),
                          capture_output=True, text=True, check=True).stdout
    assert "libpq-fe.h" in deps and "mysql.h" not in deps, deps
    prog = cc(prefix, [str(src)], str(tmp_path / "barrier_pg"), "msgrelay-barrier")
    with Postgres() as pg:
        pg.create_database("app")
        with open(os.path.join(REPO, "sql", "barrier", "postgres.sql")) as f:
            pg.sql(f.read(), database="app")
        pg.sql(["CREATE TABLE done (gid text)",
                "GRANT ALL ON SCHEMA dtm_barrier TO msgrelay",
                "GRANT ALL ON ALL TABLES IN SCHEMA dtm_barrier TO msgrelay",
                "GRANT ALL ON ALL SEQUENCES IN SCHEMA dtm_barrier TO msgrelay",
                "GRANT ALL ON done TO msgrelay"], database="app")
        gid = new_gid("pg-prog")
        p = subprocess.run([prog, pg.uri("app"), gid], capture_output=True, text=True,
                           timeout=60, env=run_env(prefix))
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["success", "duplicated", "failure", "failure"], p.stdout
        assert pg.sql("SELECT count(*) FROM done", database="app").strip() == "1"
        rows = pg.sql("SELECT branch_id, op, reason FROM dtm_barrier.barrier WHERE gid = '%s' "
                      "ORDER BY branch_id" % gid, database="app")
        assert [ln.split("\t") for ln in rows.splitlines()] == [["00", "msg", "rollback"],
                                                                ["01", "action", "action"]]


CONSUMER_PROG = r"""
#include <stdio.h>
#include <string.h>
#include <msgrelay/consumer.h>

static int apply(MYSQL *db, const struct mr_consumer_record *r, void *arg)
{
    (void)db; (void)r; (void)arg;
    return 0;
}

int main(void)
{
    struct mr_consumer_options o;
    struct mr_consumer *c = NULL;
    char err[256];
    int rc;

    memset(&o, 0, sizeof o);
    o.fn = apply;  /* no brokers, no topics: refused before anything starts */
    rc = mr_consumer_new(&c, &o, err, sizeof err);
    printf("%d %s\n", rc, err);
    return rc == MR_CONSUMER_EINVAL && c == NULL ? 0 : 1;
}
"""


def test_consumer_built_with_msgrelay_consumer(prefix, tmp_path):
    src = tmp_path / "consumer.c"
    src.write_text(CONSUMER_PROG)
    prog = cc(prefix, [str(src)], str(tmp_path / "consumer"), "msgrelay-consumer")
    assert any(n.startswith("libmsgrelay-consumer.so.") for n in needed(prog)), needed(prog)
    p = subprocess.run([prog], capture_output=True, text=True, timeout=30, env=run_env(prefix))
    assert p.returncode == 0, (p.stdout, p.stderr)


# --------------------------------------------------------------------------
# the man page and the systemd unit
# --------------------------------------------------------------------------

def help_text(prefix):
    p = subprocess.run([os.path.join(prefix, "bin", "msgrelay"), "--help"], capture_output=True,
                       text=True)
    assert p.returncode == 0
    return p.stdout


def test_man_page_covers_every_option_of_help(prefix):
    page = os.path.join(prefix, "share", "man", "man1", "msgrelay.1")
    src = open(page).read()
    text = help_text(prefix)
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    envs = set(re.findall(r"\bMSGRELAY_[A-Z0-9_]+", text))
    commands = set(re.findall(r"^(?:usage:)?\s+msgrelay ([a-z][a-z-]+)", text, re.M))
    assert len(flags) > 40 and len(envs) > 40 and "barrier-prune" in commands, (flags, commands)
    roff = src.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![a-z0-9-])", roff))
    missing += sorted(e for e in envs if not re.search(re.escape(e) + r"(?![A-Z0-9_])", roff))
    missing += sorted(c for c in commands if not re.search(r"\.B msgrelay " + re.escape(c), roff))
    assert not missing, "msgrelay(1) lacks: %s" % missing
    # and names no flag that --help does not know
    extra = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", roff)) - flags - {"--flag"})
    assert not extra, "msgrelay(1) names flags --help does not: %s" % extra


def test_man_page_renders(prefix):
    page = os.path.join(prefix, "share", "man", "man1", "msgrelay.1")
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True,
                           text=True)
        assert p.returncode == 0 and p.stderr == "", p.stderr
    if not shutil.which("man"):
        pytest.skip("man is not installed")
    p = subprocess.run(["man", "-l", page], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="120", MANPAGER="cat", PAGER="cat"))
    assert p.returncode == 0, p.stderr
    out = re.sub("[\u2010\u2011\u2212]", "-", re.sub(".\b", "", p.stdout))
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "FILES"):
        assert re.search(r"^%s$" % heading, out, re.M), heading
    assert "--max-retry-interval" in out and "MSGRELAY_API_TOKEN" in out


def test_systemd_unit_is_hardened_and_verifies(prefix):
    unit = os.path.join(prefix, "lib", "systemd", "system", "msgrelay.service")
    text = open(unit).read()
    assert "ExecStart=%s serve" % os.path.join(prefix, "bin", "msgrelay") in text
    for line in ("DynamicUser=yes", "StateDirectory=msgrelay", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "Restart=on-failure",
                 "EnvironmentFile=-/etc/msgrelay/msgrelay.env",
                 "Environment=MSGRELAY_STORE=sqlite:/var/lib/msgrelay/msgrelay.db"):
        assert re.search(r"^%s$" % re.escape(line), text, re.M), line
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))
    p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0 and "msgrelay.service" not in p.stderr, p.stderr


def test_uninstall_removes_what_install_put_in_destdir(tmp_path):
    dest = str(tmp_path / "dest")
    make("install", "DESTDIR=" + dest, "PREFIX=/opt/msgrelay")
    root = os.path.join(dest, "opt", "msgrelay")
    assert os.path.isfile(os.path.join(root, "bin", "msgrelay"))
    pc = open(os.path.join(root, "lib", "pkgconfig", "msgrelay.pc")).read()
    assert "prefix=/opt/msgrelay\n" in pc, "the .pc names the final prefix, not DESTDIR"
    make("uninstall", "DESTDIR=" + dest, "PREFIX=/opt/msgrelay")
    left = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files]
    left += [os.path.join(d, x) for d, dirs, _ in os.walk(dest) for x in dirs
             if os.path.islink(os.path.join(d, x))]
    assert not left, left


def test_license_is_at_the_root_and_named_in_the_readme():
    text = open(os.path.join(REPO, "LICENSE")).read()
    assert text.startswith("MIT License")
    readme = open(os.path.join(REPO, "README.md")).read()
    assert re.search(r"MIT licen[cs]e", readme) and "LICENSE" in readme
