"""`make ui` on a study's store, looked at in a real browser (headless Chromium): the printed
link opens on the variants grouped over their seeds (each group's mean), the study's metrics
charted first and tabled as columns, every variant's curve charted together; the
experiment's description carries that link; the server is two processes, not eight. The
store is `test_report`'s fabricated one (5 variants × 3 seeds, written by the sweep's own
tracker: no training), so groups really aggregate seeds.

Needs Debian's `chromium` and `chromium-driver` (`make test-slow` installs them when it can)
and selenium; without them the browser test is skipped, saying why.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.ablations.results.test_report import fabricated  # noqa: F401  (the store)
from tests.browser import browser
from tests.processes import free_port
from tests.sweeps import REPO, kill_session, local_env, session_processes

SCREENSHOT = REPO / "results" / "ui" / "study-charts.png"  # generated, never committed


@pytest.fixture(scope="module")
def ui(fabricated):  # noqa: F811
    """The fabricated study's store, and `python -m ablations ui` serving it: (printed link,
    the server's session id, base URL)."""
    _, results, _ = fabricated
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ablations", "ui", "--results", str(results), "--port", str(port)],
        cwd=REPO, env=local_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        lines = [server.stdout.readline() for _ in range(2)]
        link = re.search(r"fake: (\S+)", lines[1]).group(1)
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base, timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, lines
                time.sleep(0.5)
        yield link, server.pid, base
    finally:
        kill_session(server.pid)
        server.wait(timeout=30)


@pytest.mark.slow
def test_make_ui_starts_only_what_the_ui_needs(ui):
    _, sid, _ = ui
    processes = session_processes(sid)
    commands = [
        subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True).stdout
        for pid in processes
    ]
    assert len(processes) <= 2, commands  # `mlflow ui` and its one uvicorn worker
    assert not [c for c in commands if "huey" in c or "_job_runner" in c], commands


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_printed_link_shows_the_variants_and_their_curves_in_a_browser(ui):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    link, _, base = ui
    driver = browser()
    try:
        # MLflow redraws its charts while runs and the search settle, so an element found
        # one poll may be gone the next: a stale element means "not yet", not a failure
        wait = WebDriverWait(
            driver, 90, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,)
        )
        driver.get(link)
        for name in ("lynx", "w-cross-attn"):  # each variant a group of its 3 seeds' runs
            wait.until(
                lambda d, name=name: f"Group: {name}\n3" in d.find_element(By.TAG_NAME, "body").text
            )
        wait.until(lambda d: "bases\n(" in d.find_element(By.TAG_NAME, "body").text)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Group by: lynx_group" in body
        # the study's section first, training curves next, the frozen bases' at the end
        assert body.index("study\n(") < body.index("stage2\n(") < body.index("bases\n(")

        def study_chart(d):  # the first chart: image Overall, one bar per variant group
            card = d.find_element(
                By.XPATH, "//*[text()='study']/following::*[contains(., 'openvqa/overall')][1]"
            )
            plots = card.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
            return plots and "w-cross-attn" in card.text and "lynx" in card.text

        wait.until(study_chart, "the study's first chart, image Overall per variant")

        def search_charts(d):
            search = d.find_element(By.CSS_SELECTOR, "input[placeholder='Search metric charts']")
            if search.get_attribute("value") != "stage2/loss":
                search.send_keys(Keys.CONTROL, "a")  # typing replaces whatever is there
                search.send_keys("stage2/loss")
            return search.get_attribute("value") == "stage2/loss"

        wait.until(search_charts, "the chart search box")

        def stage2_chart(d):
            for plot in d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"):
                card = plot.find_element(By.XPATH, "./ancestor::*[contains(., 'stage2/loss')][1]")
                if "lynx" in card.text and "w-cross-attn" in card.text:
                    curves = plot.find_elements(
                        By.CSS_SELECTOR, ".scatterlayer .trace path.js-line"
                    )
                    return len(curves) >= 2  # one curve per variant (its seeds' mean)
            return False

        wait.until(stage2_chart, "a stage2/loss chart with one curve per variant")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))

        driver.get(link.replace("compareRunsMode=CHART", "compareRunsMode=TABLE"))
        wanted = {"openvqa/overall", "mme/perception", "compliance/overall"}

        def metric_columns(d):  # the table's columns are the study's metrics
            headers = {h.text for h in d.find_elements(By.CSS_SELECTOR, "[role=columnheader]")}
            return wanted <= headers

        wait.until(metric_columns, "the study's metrics as the table's columns")
        # a group's row holds its seeds' mean: lynx's image Overall, 70, 72 and 74 → 72
        wait.until(lambda d: "72 (average)" in d.find_element(By.TAG_NAME, "body").text)
        driver.save_screenshot(str(SCREENSHOT.with_name("study-table.png")))

        # the experiment itself, opened as the experiment list links it: its description
        # holds the same link
        experiment = re.search(r"#/experiments/(\d+)/", link).group(1)
        driver.get(f"{base}#/experiments/{experiment}")
        anchor = wait.until(
            lambda d: d.find_element(By.PARTIAL_LINK_TEXT, "Open the variants side by side")
        )
        assert anchor.get_attribute("href") == link
    finally:
        driver.quit()
