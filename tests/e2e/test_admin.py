# SPDX-License-Identifier: MIT
"""`msgrelay show GID` and `msgrelay list`: the store read as the API answers it."""
import json
import os
import subprocess

from e2e_helpers import msg_body, new_gid


def admin(r, *args):
    """Run `msgrelay ARGS --store <r's store>`; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    p = subprocess.run([r.binary] + list(args) + ["--store", r.argv[r.argv.index("--store") + 1]],
                       capture_output=True, text=True, timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def test_show_and_list_print_what_query_and_all_answer(app, relay):
    r = relay()
    gids = [new_gid("adm") for _ in range(3)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/a"), app.url("/svc/b")]))[0] == 200
    for g in gids:
        r.wait_state(g, "succeed")
    prep = new_gid("adm")
    assert r.post("prepare", msg_body(prep, [app.url("/svc/a")],
                                      query_prepared=app.url("/qp")))[0] == 200

    rc, out, err = admin(r, "show", gids[0])
    assert rc == 0, err
    assert json.loads(out) == r.query(gids[0])
    assert json.loads(out)["transaction"]["status"] == "succeed"

    rc, out, err = admin(r, "list", "--limit", "2")
    assert rc == 0, err
    page = json.loads(out)
    assert [t["gid"] for t in page["transactions"]] == [prep, gids[2]]
    assert page["next_position"] != ""
    rc, out, err = admin(r, "list", "--limit=2", "--position", page["next_position"])
    assert rc == 0, err
    assert [t["gid"] for t in json.loads(out)["transactions"]] == [gids[1], gids[0]]

    rc, out, err = admin(r, "list", "--state", "prepared")
    assert rc == 0, err
    assert [t["gid"] for t in json.loads(out)["transactions"]] == [prep]


def test_admin_commands_refuse_bad_input_and_never_create_a_store(relay, tmp_path):
    r = relay()
    rc, out, err = admin(r, "show", "no-such-gid")
    assert rc == 1 and "no message with gid no-such-gid" in err, (rc, err)
    rc, out, err = admin(r, "list", "--state", "done")
    assert rc == 2 and "--state" in err, (rc, err)
    rc, out, err = admin(r, "list", "--limit", "0")
    assert rc == 2 and "--limit" in err, (rc, err)
    rc, out, err = admin(r, "show")
    assert rc == 2 and "usage" in err, (rc, err)

    missing = str(tmp_path / "nothing-here.db")
    p = subprocess.run([r.binary, "show", "g1", "--store", "sqlite:" + missing],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "no store at" in p.stderr, (p.returncode, p.stderr)
    assert not os.path.exists(missing)
