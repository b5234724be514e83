# SPDX-License-Identifier: MIT
"""/api/metrics: Prometheus text with per-route API counters and step outcomes."""
import re

from e2e_helpers import msg_body, new_gid

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse(text):
    """{(name, labels text): value} for every sample line; asserts the format."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples


def labels(lbl):
    return dict(re.findall(r'(\w+)="([^"]*)"', lbl))


def total(samples, name, **want):
    return sum(v for (n, lbl), v in samples.items()
               if n == name and all(labels(lbl).get(k) == w for k, w in want.items()))


def test_metrics_count_api_requests_by_route_and_step_outcomes(app, relay):
    r = relay()
    gids = [new_gid("met") for _ in range(3)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/a"), app.url("/svc/b")]))[0] == 200
    for g in gids:
        r.wait_state(g, "succeed")

    status, text, headers = r.request("GET", "/api/metrics")
    assert status == 200, (status, text)
    assert isinstance(text, str) and "msgrelay_api_requests_total" in text
    assert headers.get("content-type", "").startswith("text/plain"), headers
    s = parse(text)

    routes = {labels(lbl).get("route") for (n, lbl) in s if n == "msgrelay_api_requests_total"}
    assert {"submit", "query"} <= routes, routes
    assert total(s, "msgrelay_api_requests_total", route="submit") >= 3
    assert total(s, "msgrelay_api_requests_total", route="query") >= 3

    made = app.count("/svc/a") + app.count("/svc/b")
    assert made == 6
    assert ("msgrelay_step_calls_total", '{outcome="success"}') in s, sorted(s)[:20]
    assert total(s, "msgrelay_step_calls_total", outcome="success") >= made


def test_metrics_count_failed_step_calls(app, relay):
    r = relay()
    gid = new_gid("met")
    app.queue("/svc/x", 500, "down")
    assert r.post("submit", msg_body(gid, [app.url("/svc/x")], retry_interval=1))[0] == 200
    r.wait_state(gid, "succeed", timeout=8)
    s = parse(r.metrics())
    assert total(s, "msgrelay_step_calls_total", outcome="error") >= 1
    assert total(s, "msgrelay_step_calls_total", outcome="success") >= 1


def test_metrics_count_rejected_requests(relay):
    r = relay()
    assert r.post("submit", b"not json")[0] == 400
    s = parse(r.metrics())
    assert total(s, "msgrelay_api_requests_total", route="submit") >= 1


def test_fresh_submits_are_handed_to_the_relay_and_the_rest_claimed(app, relay):
    """A submit due now (also one of a prepared message) reaches the relay from the intake,
    leased in its commit; a delayed one and a retry come from a claim."""
    r = relay()
    now = [new_gid("hand") for _ in range(5)]
    for g in now:
        assert r.post("submit", msg_body(g, [app.url("/svc/a")]))[0] == 200
    prep = new_gid("hand")
    assert r.post("prepare", msg_body(prep, [app.url("/svc/a")],
                                      query_prepared=app.url("/qp")))[0] == 200
    assert r.post("submit", {"gid": prep, "trans_type": "msg"})[0] == 200
    for g in now + [prep]:
        r.wait_state(g, "succeed")
    s = parse(r.metrics())
    assert total(s, "msgrelay_relay_passes_total", source="intake") == 6
    assert total(s, "msgrelay_relay_passes_total", source="claim") == 0
    assert app.count("/svc/a") == 6
    assert app.count("/qp") == 0

    later = new_gid("hand")
    assert r.post("submit", msg_body(later, [app.url("/svc/a")],
                                     custom_data='{"delay":1}'))[0] == 200
    r.wait_state(later, "succeed", timeout=10)
    s = parse(r.metrics())
    assert total(s, "msgrelay_relay_passes_total", source="intake") == 6
    assert total(s, "msgrelay_relay_passes_total", source="claim") >= 1


def test_submits_past_the_relays_room_are_claimed(app, relay):
    """With every delivery slot taken, a submit is stored unleased and claimed later."""
    r = relay(max_inflight=1)
    app.set_default("/svc/slow", delay=0.3)
    gids = [new_gid("room") for _ in range(4)]
    for g in gids:
        assert r.post("submit", msg_body(g, [app.url("/svc/slow")]))[0] == 200
    for g in gids:
        r.wait_state(g, "succeed", timeout=15)
    s = parse(r.metrics())
    handed = total(s, "msgrelay_relay_passes_total", source="intake")
    claimed = total(s, "msgrelay_relay_passes_total", source="claim")
    assert handed >= 1 and claimed >= 1, (handed, claimed)
    assert handed + claimed == 4
    assert app.count("/svc/slow") == 4


# ---- DTM's series, histograms, process_*, checked with real Prometheus parsers ----

DTM_DEFAULT_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
                  "+Inf"]


def families(text):
    """The page through prometheus_client's parser: {name: family}; raises on a bad page."""
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def fam_samples(fams, family, suffix="", **want):
    """Samples of @family named family+@suffix whose labels include @want."""
    return [s for s in fams[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in want.items())]


def value(fams, family, suffix="", **want):
    return sum(s.value for s in fam_samples(fams, family, suffix, **want))


def test_promtool_and_the_python_parser_accept_the_whole_page(app, relay):
    import subprocess
    r = relay()
    g = new_gid("prom")
    assert r.post("submit", msg_body(g, [app.url("/svc/a")]))[0] == 200
    r.wait_state(g, "succeed")
    assert r.post("submit", b"not json")[0] == 400
    text = r.metrics()
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    fams = families(text)
    for name, typ in [("dtm_server_info", "gauge"), ("dtm_server_process", "counter"),
                      ("dtm_server_response_duration", "histogram"),
                      ("dtm_transaction_process", "counter"),
                      ("dtm_transaction_handled_duration", "histogram"),
                      ("dtm_branch_process", "counter"),
                      ("msgrelay_api_request_duration_seconds", "histogram"),
                      ("msgrelay_delivery_duration_seconds", "histogram"),
                      ("msgrelay_message_calls", "histogram"),
                      ("process_cpu_seconds", "counter"), ("msgrelay_build_info", "gauge")]:
        assert name in fams, (name, sorted(fams))
        assert fams[name].type == typ, (name, fams[name].type)


def test_dtm_series_follow_prepare_submit_delivery_and_abort(app, relay):
    r = relay()
    app.queue("/svc/b", 500, "down")
    sent = new_gid("dtm")
    prep = new_gid("dtm")
    gone = new_gid("dtm")
    assert r.post("prepare", msg_body(prep, [app.url("/svc/a"), app.url("/svc/b")],
                                      query_prepared=app.url("/qp"), retry_interval=1))[0] == 200
    assert r.post("submit", msg_body(prep, [app.url("/svc/a"), app.url("/svc/b")],
                                     retry_interval=1))[0] == 200
    assert r.post("submit", msg_body(sent, [app.url("/svc/a")]))[0] == 200
    assert r.post("prepare", msg_body(gone, [app.url("/svc/a")],
                                      query_prepared=app.url("/qp")))[0] == 200
    assert r.post("abort", {"gid": gone, "trans_type": "msg"})[0] == 200
    assert r.post("abort", {"gid": gone, "trans_type": "msg"})[0] == 409
    r.wait_state(sent, "succeed")
    r.wait_state(prep, "succeed", timeout=15)
    fams = families(r.metrics())

    info = fam_samples(fams, "dtm_server_info")
    assert len(info) == 1 and info[0].value == 1
    assert set(info[0].labels) == {"gin_version", "grpc_version"}, info[0].labels

    def proc(api, status):
        return value(fams, "dtm_server_process", "_total", type="http", api=api, status=status)
    assert proc("prepare", "ok") == 2
    assert proc("submit", "ok") == 2
    assert proc("abort", "ok") == 1 and proc("abort", "fail") == 1
    assert proc("query", "ok") >= 2  # wait_state's queries, without their query string
    assert all("?" not in s.labels["api"] for s in fams["dtm_server_process"].samples)

    les = [s.labels["le"] for s in fam_samples(fams, "dtm_server_response_duration", "_bucket",
                                               type="http", api="submit")]
    assert les == DTM_DEFAULT_LE, les
    assert value(fams, "dtm_server_response_duration", "_count", type="http", api="submit") == 2

    # passes: prep's first one met the 500 (fail), then ok; sent's ok
    assert value(fams, "dtm_transaction_process", "_total", model="msg", status="ok") >= 2
    assert value(fams, "dtm_transaction_process", "_total", model="msg", status="fail") >= 1
    handled = value(fams, "dtm_transaction_handled_duration", "_count", model="msg")
    assert handled == (value(fams, "dtm_transaction_process", "_total", model="msg", status="ok")
                       + value(fams, "dtm_transaction_process", "_total", model="msg",
                               status="fail"))

    def branch(bid, status):
        return value(fams, "dtm_branch_process", "_total", model="msg", branchid=bid,
                     branchtype="action", status=status)
    assert branch("01", "ok") == 2          # /svc/a of both messages
    assert branch("02", "fail") == 1        # /svc/b's 500
    assert branch("02", "ok") == 1


def test_histograms_count_deliveries_and_calls_per_message(app, relay):
    r = relay()
    app.queue("/svc/x", 500, "down", times=2)
    slow = new_gid("hist")
    fast = new_gid("hist")
    assert r.post("submit", msg_body(slow, [app.url("/svc/x")], retry_interval=1))[0] == 200
    assert r.post("submit", msg_body(fast, [app.url("/svc/a"), app.url("/svc/a")]))[0] == 200
    r.wait_state(fast, "succeed")
    r.wait_state(slow, "succeed", timeout=20)
    fams = families(r.metrics())

    for fam, lbl in [("msgrelay_delivery_duration_seconds", {"kind": "http"}),
                     ("msgrelay_message_calls", {}),
                     ("msgrelay_api_request_duration_seconds", {"route": "submit"})]:
        buckets = fam_samples(fams, fam, "_bucket", **lbl)
        counts = [s.value for s in buckets]
        assert counts == sorted(counts), (fam, counts)             # cumulative
        assert buckets[-1].labels["le"] == "+Inf"
        assert counts[-1] == value(fams, fam, "_count", **lbl), fam
    assert value(fams, "msgrelay_delivery_duration_seconds", "_count", kind="http") == 3
    assert value(fams, "msgrelay_delivery_duration_seconds", "_count", kind="kafka") == 0
    # slow's retries count: 3 calls for it, 2 for fast
    assert value(fams, "msgrelay_message_calls", "_count") == 2
    assert value(fams, "msgrelay_message_calls", "_sum") == 5
    assert value(fams, "msgrelay_message_calls", "_bucket", le="2") == 1
    assert value(fams, "msgrelay_message_calls", "_bucket", le="3") == 2
    # the slow one took at least its two retry intervals
    assert value(fams, "msgrelay_delivery_duration_seconds", "_bucket", kind="http",
                 le="1") <= 2


def test_process_series_are_sane(relay):
    import time
    r = relay()
    fams = families(r.metrics())
    start = value(fams, "process_start_time_seconds")
    assert time.time() - 600 < start <= time.time() + 1, start
    rss = value(fams, "process_resident_memory_bytes")
    assert 1 << 20 < rss < 1 << 32, rss
    assert value(fams, "process_virtual_memory_bytes") >= rss
    fds = value(fams, "process_open_fds")
    assert 3 <= fds < value(fams, "process_max_fds"), fds
    assert value(fams, "process_cpu_seconds", "_total") >= 0
    build = fam_samples(fams, "msgrelay_build_info")
    assert len(build) == 1 and build[0].value == 1 and build[0].labels["version"], build
    assert "version" in r.get("version")[1]
    assert r.get("version")[1]["version"].endswith(build[0].labels["version"])
