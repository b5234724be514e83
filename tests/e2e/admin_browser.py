# SPDX-License-Identifier: MIT
"""Headless Chromium for the admin page, and the tool that takes the README's
screenshot of it.

chromium() starts Debian's chromium through chromedriver (selenium), headless,
with every background service that would reach beyond loopback turned off.
tests/e2e/test_admin_ui.py drives the page with it.

Run as a program, it takes docs/img/admin-overview.png: a relay (no token)
and a sink on loopback, about a minute of traffic (deliveries at a varying
rate, a destination that answers 503 so its messages are parked, one that
refuses connections so it is down), then the overview in a 1200 px window:

    MSGRELAY_BIN=$PWD/build/msgrelay /usr/bin/python3 tests/e2e/admin_browser.py \\
        docs/img/admin-overview.png [SECONDS]
"""
import math
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(profile_dir, width=1200, height=900):
    """A headless Chromium session (selenium WebDriver); the caller quits it."""
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=%d,%d" % (width, height), "--no-first-run",
              "--no-default-browser-check", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-default-apps",
              "--disable-extensions", "--disable-domain-reliability",
              "--metrics-recording-only", "--user-data-dir=%s" % profile_dir):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def main(out, seconds):
    from conftest import App, Relay, relay_binary
    from e2e_helpers import msg_body, new_gid, wait_for
    from selenium.webdriver.common.by import By

    work = tempfile.mkdtemp(prefix="msgrelay-shot-")
    sink = App()
    sink.set_default("/mail/send", status=503, body="mail service unavailable")
    sink.set_default("/billing/charge", delay=0.02)
    r = Relay(relay_binary(), work, "shot", {"--retry-limit": "3", "--unhealthy-after": "3",
                                             "--max-retry-interval": "5", "--log-level": "warn"})
    r.start()
    browser = None
    try:
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < seconds:
            rate = int(6 + 5 * math.sin(tick / 8.0))
            for _ in range(rate):
                r.post("submit", msg_body(new_gid("order"), [sink.url("/orders/created"),
                                                              sink.url("/billing/charge")]))
            if tick % 3 == 0:
                r.post("submit", msg_body(new_gid("mail"), [sink.url("/mail/send")]))
            if tick % 10 == 0:
                r.post("submit", msg_body(new_gid("audit"), ["http://127.0.0.1:9/audit"]))
            tick += 1
            time.sleep(max(0.0, start + tick - time.monotonic()))
        browser = chromium(os.path.join(work, "chromium"), 1200, 1040)
        browser.get("http://127.0.0.1:%d/admin/#/overview" % r.port)
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#destinations tbody tr"), 10,
                 "the overview")
        browser.save_screenshot(out)
    finally:
        if browser is not None:
            browser.quit()
        r.stop()
        sink.close()
    print("wrote %s (relay log: %s)" % (out, r.log_path))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: admin_browser.py OUT.png [SECONDS]")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 70)
