# SPDX-License-Identifier: MIT
"""The admin page (/admin/), in a real browser: Debian's chromium driven by
chromedriver through selenium, headless, one browser and one relay (with an
admin token) for the whole module. The relay holds a delivered message, one
retrying on a failing destination, and one parked; the tests find, open and
force-stop messages, answer the token prompt, manage topics, redrive, and
look at the page in a narrow window. Screenshots go to the module's temp dir
(and the overview to $MSGRELAY_ADMIN_SCREENSHOT when set: docs/img/).

The plain-HTTP side of the page (content types, security headers, ETag,
404, the admin scope of its API) is checked without a browser first.
"""
import os
import shutil
import urllib.parse

import pytest

from admin_browser import chromium
from conftest import App
from e2e_helpers import msg_body, new_gid, wait_for

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

TOKEN = "admin-ui-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}


# ---- the module's relay, messages and browser ----

@pytest.fixture(scope="module")
def sink():
    a = App()
    a.set_default("/svc/down", status=503, body="down for maintenance")
    try:
        yield a
    finally:
        a.close()


@pytest.fixture(scope="module")
def env(module_relay_factory, sink):
    """The relay and three messages: delivered, retrying (submitted), parked."""
    # the sink's host takes the failing calls too: health off, so that the redriven message
    # does not wait its turn behind the retrying one for the one probe call of a down host
    r = module_relay_factory({"--admin-token": TOKEN, "--max-retry-interval": "1",
                              "--unhealthy-after": "0"})
    done, waiting, parked = new_gid("ui-done"), new_gid("ui-wait") + "+x", new_gid("ui-park")
    for gid, url, extra in ((done, "/svc/ok", {}), (waiting, "/svc/down", {}),
                            (parked, "/svc/down", {"retry_limit": 1})):
        body = msg_body(gid, [sink.url(url)], payloads=['{"html":"<img src=x id=evil>"}'], **extra)
        assert r.post("submit", body, headers=AUTH)[0] == 200
    r.wait_state(done, "succeed")
    r.wait_state(parked, "parked", timeout=15)
    return {"relay": r, "done": done, "waiting": waiting, "parked": parked,
            "base": "http://127.0.0.1:%d/admin/" % r.port}


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    d = chromium(str(tmp_path_factory.mktemp("chromium")))
    try:
        yield d
    finally:
        d.quit()


def find(d, css, timeout=10):
    """The element @css once it is displayed."""
    def shown():
        try:
            e = d.find_element(By.CSS_SELECTOR, css)
            return e if e.is_displayed() else None
        except (NoSuchElementException, StaleElementReferenceException):
            return None
    return wait_for(shown, timeout, "element %s on %s" % (css, d.current_url))


def text_of(d, css, want, timeout=10):
    """Wait until the text of @css contains @want; return the text."""
    def has():
        try:
            t = d.find_element(By.CSS_SELECTOR, css).text
            return t if want in t else None
        except (NoSuchElementException, StaleElementReferenceException):
            return None
    return wait_for(has, timeout, lambda: "%r in %s on %s" % (want, css, d.current_url))


def signed_in(d, env):
    """Open the page and answer the token prompt if it asks."""
    d.get(env["base"] + "#/overview")
    find(d, "#token-form, #counts")
    if d.find_elements(By.CSS_SELECTOR, "#token-form"):
        box = find(d, "#token")
        box.send_keys(TOKEN)
        box.send_keys(Keys.ENTER)
    find(d, "#counts")


# ---- plain HTTP ----

def test_the_page_is_served_with_its_types_and_security_headers(env):
    r = env["relay"]
    status, _, h = r.request("GET", "/admin")
    assert status == 301 and h["location"] == "/admin/"
    status, body, h = r.request("GET", "/admin/")
    assert status == 200 and h["content-type"] == "text/html; charset=utf-8"
    assert 'src="admin.js"' in body
    csp = h["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == "no-cache"
    for name, ctype in (("admin.js", "text/javascript"), ("admin.css", "text/css")):
        status, _, h = r.request("GET", "/admin/" + name)
        assert status == 200 and h["content-type"].startswith(ctype), (name, h)
        assert h["x-content-type-options"] == "nosniff"
        status, body, h2 = r.request("GET", "/admin/" + name,
                                     headers={"If-None-Match": h["etag"]})
        assert status == 304 and body == "" and h2["etag"] == h["etag"]
    assert r.request("GET", "/admin/missing.js")[0] == 404
    assert r.request("GET", "/admin/../api/dtmsvr/all")[0] == 404
    assert r.request("POST", "/admin/", body="{}")[0] == 405


def test_the_page_needs_no_token_but_its_api_does(env, sink):
    r = env["relay"]
    for route in ("/api/msgrelay/overview", "/api/dtmsvr/all"):
        status, data, h = r.request("GET", route)
        assert status == 401, (route, data)
        assert h["www-authenticate"].startswith("Bearer")
    dest = "http://127.0.0.1:%d" % sink.port

    def overview():
        """The overview once the sink's three first calls (one success, two 503s) are counted."""
        status, o, _ = r.request("GET", "/api/msgrelay/overview", headers=AUTH)
        assert status == 200, o
        mine = [d for d in o["destinations"] if d["destination"] == dest]
        return o if mine and mine[0]["calls"] >= 3 and mine[0]["failures"] >= 2 else None
    o = wait_for(overview, 10, "the sink's calls in the overview")
    assert o["states"]["succeed"] >= 1 and o["states"]["parked"] >= 1
    assert o["states"]["submitted"] >= 1
    assert o["oldest_waiting"]["age_s"] >= 0
    assert o["rates"] and o["rates"][-1]["delivered_per_s"] >= 0
    assert sum(x["delivered_per_s"] * x["seconds"] for x in o["rates"]) >= 0.99, o["rates"]


def test_the_message_list_takes_a_gid_prefix(env):
    r = env["relay"]
    prefix = env["parked"][:-3]
    status, page, _ = r.request("GET", "all", params={"gidPrefix": prefix}, headers=AUTH)
    assert status == 200 and [t["gid"] for t in page["transactions"]] == [env["parked"]]
    status, page, _ = r.request("GET", "all", params={"gidPrefix": "ui-", "limit": 10},
                                headers=AUTH)
    assert {t["gid"] for t in page["transactions"]} >= {env["done"], env["waiting"], env["parked"]}
    status, page, _ = r.request("GET", "all", params={"gidPrefix": "ui-", "status": "succeed"},
                                headers=AUTH)
    assert [t["gid"] for t in page["transactions"]] == [env["done"]]
    status, data, _ = r.request("GET", "all", params={"gidPrefix": "x" * 200}, headers=AUTH)
    assert status == 400 and data["message"].startswith("gidPrefix:"), data


# ---- in the browser ----

def test_the_token_prompt_then_the_overview(env, browser, shots):
    d = browser
    d.get(env["base"])
    # the relay has an admin token: the page asks for it before it shows any data
    find(d, "#token-form")
    assert not d.find_elements(By.CSS_SELECTOR, "#counts")
    d.save_screenshot(str(shots / "token-prompt.png"))
    box = find(d, "#token")
    assert d.switch_to.active_element == box, "the token field has the focus"
    box.send_keys("wrong-token-0123456789")
    box.send_keys(Keys.ENTER)
    text_of(d, "#token-form", "token not accepted")
    box = find(d, "#token")
    box.clear()
    box.send_keys(TOKEN)
    find(d, "#token-form button").click()
    counts = text_of(d, "#counts", "parked")
    assert "succeed" in counts and "submitted" in counts
    assert d.execute_script("return sessionStorage.getItem('msgrelay-admin-token')") == TOKEN
    assert "msgrelay-admin-token" not in (d.execute_script("return document.cookie") or "")
    # the chart has its two lines and the destinations their health
    assert len(d.find_elements(By.CSS_SELECTOR, "svg.chart polyline")) == 2
    dests = text_of(d, "#destinations", "127.0.0.1")
    assert "up" in dests or "down" in dests
    text_of(d, "#oldest", "old")
    text_of(d, "#backlog", "slows once the oldest has waited 100 ms")
    text_of(d, "#backlog", "refuses submits past 100000 due")
    d.save_screenshot(str(shots / "overview.png"))
    out = os.environ.get("MSGRELAY_ADMIN_SCREENSHOT")
    if out:
        shutil.copyfile(str(shots / "overview.png"), out)


def test_find_a_message_open_it_and_force_stop_it(env, browser, shots):
    d = browser
    signed_in(d, env)
    gid = env["waiting"]
    find(d, 'a[href="#/messages"]').click()
    box = find(d, "#f-gid")
    box.send_keys(gid[:-4])  # the beginning of a gid finds it
    find(d, "#search").click()
    # the unfiltered list stays on the page until the search's answer replaces it
    text_of(d, "#messages a.gid", gid)
    link = find(d, "#messages a.gid")
    assert link.text == gid
    assert len(d.find_elements(By.CSS_SELECTOR, "#messages tbody tr")) == 1
    link.click()
    text_of(d, "#msg-gid", gid)
    text_of(d, "#msg-state", "submitted")
    text_of(d, "#steps", "/svc/down")
    d.save_screenshot(str(shots / "message-before.png"))
    # the list's state and time filters narrow it (kept in the address, so a link keeps them)
    q = urllib.parse.quote(gid, safe="")
    d.get(env["base"] + "#/messages?status=submitted&gid=" + q)
    assert find(d, "#messages a.gid").text == gid
    d.get(env["base"] + "#/messages?gid=" + q + "&from=2099-01-01T00%3A00")
    text_of(d, "p#messages", "No message matches")
    d.get(env["base"] + "#/messages?status=succeed&gid=" + q)
    text_of(d, "p#messages", "No message matches")
    d.get(env["base"] + "#/message/" + gid)
    text_of(d, "#msg-state", "submitted")
    find(d, "#force-stop").click()
    # the confirmation takes the focus: Enter on it confirms, as a keyboard user would
    confirm = find(d, "#force-stop-confirm")
    assert d.switch_to.active_element == confirm
    confirm.send_keys(Keys.ENTER)
    text_of(d, "#msg-state", "failed")
    text_of(d, "#notice", "forceStop: done")
    assert env["relay"].state(gid) == "failed"
    assert not d.find_elements(By.CSS_SELECTOR, "#force-stop")
    d.save_screenshot(str(shots / "message-after.png"))


def test_a_message_link_opens_directly_and_payloads_show_as_text(env, browser, shots):
    d = browser
    signed_in(d, env)
    gid = env["parked"]
    d.get(env["base"] + "#/message/" + gid)
    text_of(d, "#msg-state", "parked")
    # the payload is shown only on request, and as text: its HTML is never parsed
    assert "<img" not in find(d, "#steps").text
    find(d, "#steps button").click()
    text_of(d, "#steps pre.payload", '<img src=x id=evil>')
    assert not d.find_elements(By.CSS_SELECTOR, "#evil")
    assert find(d, "#redrive-one")
    d.save_screenshot(str(shots / "message-parked.png"))
    # an unknown gid says so
    d.get(env["base"] + "#/message/no-such-gid")
    text_of(d, "#not-found", "no-such-gid")


def calls_for(sink, gid):
    return len([c for c in sink.calls("/svc/down") if c.params.get("gid") == gid])


def test_redrive_counts_first_then_redrives(env, browser, sink, shots):
    d = browser
    signed_in(d, env)
    before = calls_for(sink, env["parked"])
    d.get(env["base"] + "#/redrive")
    find(d, "#r-gid").send_keys(env["parked"])
    go = find(d, "#redrive-go")
    assert not go.is_enabled(), "nothing is redriven before a dry run counted it"
    find(d, "#redrive-count").click()
    text_of(d, "#redrive-result", "1 parked message(s) match")
    assert env["relay"].state(env["parked"]) == "parked", "a dry run changes nothing"
    assert calls_for(sink, env["parked"]) == before
    go = find(d, "#redrive-go")
    assert go.is_enabled()
    go.click()
    text_of(d, "#redrive-result", "1 of 1 redriven")
    # back to work: its step is called again (and, failing again, it is parked again)
    wait_for(lambda: calls_for(sink, env["parked"]) > before, 10, "the redriven message's call")
    d.save_screenshot(str(shots / "redrive.png"))


def test_topics_add_and_remove_a_subscriber(env, browser, sink, shots):
    d = browser
    signed_in(d, env)
    d.get(env["base"] + "#/topics")
    topic = "orders-ui"
    find(d, "#t-topic").send_keys(topic)
    find(d, "#t-url").send_keys(sink.url("/svc/sub"))
    find(d, "#t-remark").send_keys("<b id=bold>billing</b>")
    find(d, "#subscribe button[type=submit]").click()
    listed = text_of(d, "#topics", topic)
    assert "/svc/sub" in listed and "<b id=bold>billing</b>" in listed
    assert not d.find_elements(By.CSS_SELECTOR, "#bold")
    status, kv = env["relay"].get("queryKV", {"cat": "topics", "key": topic}, headers=AUTH)
    assert status == 200 and "/svc/sub" in kv["kv"][0]["v"]
    d.save_screenshot(str(shots / "topics.png"))
    find(d, "#topics li button").click()
    text_of(d, "#notice", "unsubscribe: done")
    wait_for(lambda: not d.find_elements(By.CSS_SELECTOR, "#topics li"), 10, "the subscriber gone")
    status, kv = env["relay"].get("queryKV", {"cat": "topics", "key": topic}, headers=AUTH)
    assert "/svc/sub" not in kv["kv"][0]["v"]


def test_a_narrow_window_reflows_and_a_lost_token_asks_again(env, browser, shots):
    d = browser
    signed_in(d, env)
    d.set_window_size(400, 800)
    try:
        d.get(env["base"] + "#/message/" + env["done"])
        text_of(d, "#msg-state", "succeed")
        width = d.execute_script("return document.documentElement.scrollWidth")
        inner = d.execute_script("return window.innerWidth")
        assert width <= inner, "the page scrolls sideways at 400 px: %d > %d" % (width, inner)
        d.save_screenshot(str(shots / "narrow.png"))
        # a token the relay no longer takes brings the prompt back
        d.execute_script("sessionStorage.setItem('msgrelay-admin-token', 'stale-token-0123456789')")
        d.get(env["base"] + "#/messages")
        text_of(d, "#token-form", "token not accepted")
    finally:
        d.set_window_size(1200, 900)
