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
