# SPDX-License-Identifier: MIT
"""Access to the API: the api and admin tokens, their files, and HTTPS.

Scopes (README "Access and HTTPS"): the producer's routes take the api token
or the admin token; every other route takes the admin token, or the api token
when no admin token is set; /api/ping, /api/ready and /api/metrics are open.
"""
import http.client
import os
import socket
import ssl
import subprocess
import warnings

import pytest

from conftest import relay_binary
from e2e_helpers import msg_body, new_gid, wait_for

API_TOKEN = "api-3f9c2b7e1d5a4c60"
ADMIN_TOKEN = "admin-8e7d6c5b4a39281706"

# (method, route, body or params) for each route of a scope; bodies that the
# route accepts once past the token check (a 400 would do too: it is not 401)
API_ROUTES = [
    ("POST", "prepare", lambda app: msg_body(new_gid("acc"), [app.url("/ok")],
                                             query_prepared=app.url("/qp"))),
    ("POST", "submit", lambda app: msg_body(new_gid("acc"), [app.url("/ok")])),
    ("POST", "abort", lambda app: {"gid": new_gid("acc")}),
    ("GET", "newGid", None),
    ("GET", "query", {"gid": "nosuch"}),
]
ADMIN_ROUTES = [
    ("GET", "all", None),
    ("POST", "forceStop", lambda app: {"gid": new_gid("acc")}),
    ("POST", "resetNextCronTime", lambda app: {"gid": new_gid("acc")}),
    ("GET", "subscribe", {"topic": "t1", "url": "http://127.0.0.1:9/x"}),
    ("GET", "unsubscribe", {"topic": "t1", "url": "http://127.0.0.1:9/x"}),
    ("DELETE", "topic/t1", None),
    ("GET", "scanKV", {"cat": "topics"}),
    ("GET", "queryKV", {"cat": "topics", "key": "t1"}),
    ("GET", "version", None),
    ("GET", "resetCronTime", None),
    ("POST", "/api/msgrelay/redrive", lambda app: {"gid": new_gid("acc")}),
    ("GET", "/api/msgrelay/overview", None),
]
OPEN_ROUTES = ["/api/ping", "/api/ready", "/api/metrics", "/admin/", "/admin/admin.js"]


def call(relay, app, route, token=None):
    method, name, arg = route
    headers = {"Authorization": "Bearer " + token} if token else {}
    if method == "POST":
        return relay.request(method, name, body=arg(app), headers=headers)
    return relay.request(method, name, params=arg, headers=headers)


def assert_denied(got, status=401):
    code, data, headers = got
    assert code == status, got
    assert data["dtm_result"] == "FAILURE" and data["message"].startswith("authorization:"), data
    assert headers.get("www-authenticate", "").startswith("Bearer"), headers


def assert_allowed(got):
    code, data, _ = got
    assert code not in (401, 403), got


def test_both_tokens_guard_each_scope(app, relay):
    r = relay(api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    for route in API_ROUTES:
        assert_denied(call(r, app, route))
        assert_denied(call(r, app, route, "wrong-token-0123456789"))
        assert_allowed(call(r, app, route, API_TOKEN))
        assert_allowed(call(r, app, route, ADMIN_TOKEN))   # the admin token opens api routes
    for route in ADMIN_ROUTES:
        assert_denied(call(r, app, route))
        assert_denied(call(r, app, route, "wrong-token-0123456789"))
        assert_denied(call(r, app, route, API_TOKEN), 403)
        assert_allowed(call(r, app, route, ADMIN_TOKEN))
    for path in OPEN_ROUTES:
        status, data, _ = r.request("GET", path)
        assert status == 200, (path, status, data)


def test_refusal_names_the_problem_and_stores_nothing(app, relay):
    r = relay(api_token=API_TOKEN)
    gid = new_gid("acc")
    status, data, headers = r.request("POST", "prepare", body=msg_body(
        gid, [app.url("/ok")], query_prepared=app.url("/qp")))
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="msgrelay"'
    assert data == {"dtm_result": "FAILURE",
                    "message": "authorization: a bearer token is required"}
    status, data, headers = r.request("GET", "query", params={"gid": gid},
                                      headers={"Authorization": "Bearer " + API_TOKEN[:-1] + "x"})
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    # a token one byte longer or shorter than the real one is refused too
    for t in (API_TOKEN + "x", API_TOKEN[:-1], API_TOKEN.upper()):
        assert r.request("GET", "newGid", headers={"Authorization": "Bearer " + t})[0] == 401
    status, data, _ = r.request("GET", "query", params={"gid": gid},
                                headers={"Authorization": "Bearer " + API_TOKEN})
    assert status == 200 and not data.get("transaction"), data
    assert r.request("GET", "newGid", headers={"Authorization": "bearer  " + API_TOKEN})[0] == 200


def test_admin_token_alone_guards_admin_routes_only(app, relay):
    r = relay(admin_token=ADMIN_TOKEN)
    for route in API_ROUTES:
        assert_allowed(call(r, app, route))
    for route in ADMIN_ROUTES:
        assert_denied(call(r, app, route))
        assert_allowed(call(r, app, route, ADMIN_TOKEN))


def test_api_token_alone_guards_every_route(app, relay):
    r = relay(api_token=API_TOKEN)
    for route in API_ROUTES + ADMIN_ROUTES:
        assert_denied(call(r, app, route))
        assert_allowed(call(r, app, route, API_TOKEN))


def test_no_token_leaves_the_api_open_as_dtm_does(app, relay):
    r = relay()
    for route in API_ROUTES + ADMIN_ROUTES:
        assert_allowed(call(r, app, route))


def test_producer_flow_with_a_token(app, relay):
    r = relay(api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    auth = {"Authorization": "Bearer " + API_TOKEN}
    gid = new_gid("acc")
    body = msg_body(gid, [app.url("/step")], query_prepared=app.url("/qp"))
    assert r.post("prepare", body, headers=auth)[0] == 200
    assert r.post("submit", msg_body(gid, [app.url("/step")]), headers=auth)[0] == 200
    app.wait_calls("/step", 1)
    # the token authenticates the producer to msgrelay; it is never passed on to a step
    assert "authorization" not in app.calls("/step")[0].headers


def test_tokens_from_files(app, relay, tmp_path):
    api = tmp_path / "api.token"
    admin = tmp_path / "admin.token"
    api.write_text(API_TOKEN + "\n")
    admin.write_text(ADMIN_TOKEN + "\r\n")
    r = relay(api_token_file=str(api), admin_token_file=str(admin))
    assert_denied(call(r, app, API_ROUTES[3]))
    assert_allowed(call(r, app, API_ROUTES[3], API_TOKEN))
    assert_denied(call(r, app, ADMIN_ROUTES[0], API_TOKEN), 403)
    assert_allowed(call(r, app, ADMIN_ROUTES[0], ADMIN_TOKEN))
    assert API_TOKEN not in " ".join(r.argv) and ADMIN_TOKEN not in " ".join(r.argv)


def test_admin_commands_need_no_token(relay, tmp_path):
    r = relay(api_token_file=str(tmp_path / "api.token"), start=False)
    (tmp_path / "api.token").write_text(API_TOKEN + "\n")
    r.start()
    r.stop()
    # a token file the operator cannot read does not stop `msgrelay list`
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    env["MSGRELAY_API_TOKEN_FILE"] = str(tmp_path / "missing.token")
    store = r.argv[r.argv.index("--store") + 1]
    out = subprocess.run([relay_binary(), "list", "--store", store],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0 and '"transactions"' in out.stdout, out


def run_serve(args, tmp_path, timeout=15):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGRELAY_")}
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p = port.getsockname()[1]
    port.close()
    argv = [relay_binary(), "serve", "--bind", "127.0.0.1", "--port", str(p),
            "--store", "sqlite:" + str(tmp_path / "bad.db")] + args
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(tmp_path))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("msgrelay %r kept running instead of refusing to start: %s" % (args, err))
    return proc.returncode, out + err


@pytest.mark.parametrize("setup,args,expect", [
    (None, ["--api-token-file", "{d}/missing"], "--api-token-file: cannot read"),
    ("", ["--admin-token-file", "{d}/tok"], "--admin-token-file: '{d}/tok' is empty"),
    ("\n", ["--api-token-file", "{d}/tok"], "is empty"),
    ("short-secret-1\n", ["--api-token-file", "{d}/tok"], "16 to 4096 bytes"),
    ("LONG", ["--api-token-file", "{d}/tok"], "16 to 4096 bytes"),
    ("has space in the token", ["--api-token-file", "{d}/tok"], "visible ASCII"),
    (None, ["--api-token", "short-secret-2"], "--api-token: a token must be 16 to 4096"),
    (API_TOKEN, ["--api-token", API_TOKEN, "--api-token-file", "{d}/tok"], "give one"),
    (None, ["--api-token", API_TOKEN, "--admin-token", API_TOKEN], "must differ"),
    (None, ["--api-tokn=secret-in-a-typo-0123"], "unknown flag '--api-tokn'"),
])
def test_bad_token_settings_stop_the_start(tmp_path, setup, args, expect):
    if setup is not None:
        (tmp_path / "tok").write_text("x" * 4097 if setup == "LONG" else setup)
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    rc, out = run_serve(args, tmp_path)
    assert rc == 2, (rc, out)
    assert expect.replace("{d}", str(tmp_path)) in out, out
    for secret in ("short-secret-1", "short-secret-2", "secret-in-a-typo", API_TOKEN):
        assert secret not in out, out


def test_tokens_never_reach_the_log_or_help(app, relay):
    wrong = "wrong-3a8d7c6b5a49"
    r = relay(api_token=API_TOKEN, admin_token=ADMIN_TOKEN, bind="0.0.0.0")
    for route in API_ROUTES + ADMIN_ROUTES:
        for t in (None, wrong, API_TOKEN, ADMIN_TOKEN):
            call(r, app, route, t)
    r.stop()
    log = open(r.log_path).read()
    assert '"request refused"' in log   # debug logging was on and saw the refusals
    for secret in (API_TOKEN, ADMIN_TOKEN, wrong):
        # the start line of the log file (written by the test) holds the argv
        assert secret not in log.split("\n", 2)[2], secret
    assert "tokens travel in clear" in log   # listening beyond loopback without TLS
    help_text = subprocess.run([relay_binary(), "--help"], capture_output=True, text=True,
                               env={"MSGRELAY_API_TOKEN": API_TOKEN}).stdout
    assert "--api-token-file" in help_text and API_TOKEN not in help_text


def test_open_api_beyond_loopback_is_warned(relay):
    r = relay(bind="0.0.0.0")
    wait_for(lambda: "the API is open to anyone" in open(r.log_path).read(), 5,
             "the open-API warning")


# --------------------------------------------------------------------------
# HTTPS
# --------------------------------------------------------------------------

def make_cert(d):
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_https_serves_the_api_and_refuses_plain_http(app, relay, tmp_path):
    cert, key = make_cert(tmp_path)
    r = relay(tls_cert=cert, tls_key=key, api_token=API_TOKEN)
    assert r.base.startswith("https://")
    gid = new_gid("tls")
    auth = {"Authorization": "Bearer " + API_TOKEN}
    assert r.post("prepare", msg_body(gid, [app.url("/s")], query_prepared=app.url("/qp")),
                  headers=auth)[0] == 200
    assert r.post("submit", msg_body(gid, [app.url("/s")]), headers=auth)[0] == 200
    app.wait_calls("/s", 1)
    # curl, verifying the certificate
    out = subprocess.run(["curl", "-sS", "--cacert", cert, "-H", "Authorization: Bearer " + API_TOKEN,
                          r.base + "/api/dtmsvr/query?gid=" + gid],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and gid in out.stdout, out
    # plain HTTP on the TLS port gets no HTTP answer
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/api/ping")
        resp = conn.getresponse()
        resp.read()
        raise AssertionError("plain HTTP answered %s on the TLS port" % resp.status)
    conn.close()
    # a client that does not trust the certificate is refused by its own check
    ctx = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        c = http.client.HTTPSConnection("127.0.0.1", r.port, timeout=5, context=ctx)
        c.request("GET", "/api/ping")
    # TLS 1.1 (deprecated) is refused by the server, even to a client that would take it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(cert)
        old.set_ciphers("DEFAULT@SECLEVEL=0")
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused:
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as raw:
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    assert not isinstance(refused.value, ssl.SSLCertVerificationError), refused.value
    modern = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as raw:
        with modern.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()


@pytest.mark.parametrize("which", ["cert-only", "key-only", "garbage", "missing", "swapped",
                                   "mismatch"])
def test_bad_tls_settings_stop_the_start(tmp_path, which):
    cert, key = make_cert(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = make_cert(other)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    args = {
        "cert-only": ["--tls-cert", cert],
        "key-only": ["--tls-key", key],
        "garbage": ["--tls-cert", str(garbage), "--tls-key", key],
        "missing": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key],
        "swapped": ["--tls-cert", key, "--tls-key", cert],
        "mismatch": ["--tls-cert", cert, "--tls-key", other_key],
    }[which]
    rc, out = run_serve(args, tmp_path)
    assert rc != 0, out
    expect = {
        "cert-only": "--tls-cert: needs --tls-key",
        "key-only": "--tls-key: needs --tls-cert",
        "garbage": "--tls-cert and --tls-key",
        "missing": "--tls-cert: cannot read",
        "swapped": "--tls-cert and --tls-key",
        "mismatch": "--tls-cert and --tls-key",
    }[which]
    assert expect in out, out
    assert "PRIVATE KEY" not in out
