"""Headless Chromium for the tests that look at a page as a reader would: Debian's
`chromium` and `chromium-driver` driven by selenium (Playwright's own browser download cannot
work on these machines). Without them a test is skipped, saying how to get them."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def browser():
    """A headless Chromium (1600×1000) whose console messages `driver.get_log('browser')`
    returns."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium / chromedriver: install Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1600,1000", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic",
    ):  # fmt: skip
        options.add_argument(flag)  # the network flags: this machine's network is closed
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
