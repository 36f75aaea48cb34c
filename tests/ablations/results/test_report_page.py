"""`index.html`, the sweep's report on one page, opened in headless Chromium: it renders
without a console error, every figure loads, the verdict table leads with each conclusion's
verdict, and a table sorts by a click on its header. Built from the fabricated store of
`test_report` (known numbers, no training)."""

from __future__ import annotations

import re

from tests.ablations.results.test_report import fabricated  # noqa: F401  (the store)
from tests.browser import browser
from tests.conftest import REPO

SCREENSHOT = REPO / "results" / "ui" / "report-page.png"  # generated, never committed


def test_the_page_is_self_contained_and_listed(fabricated):  # noqa: F811
    _, _, report = fabricated
    page = report.folder / "index.html"
    assert page in report.files
    text = page.read_text()
    links = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert links and all(link.startswith(("#", "data:image/png;base64,")) for link in links)
    figures = sorted(p.name for p in (report.folder / "plots").glob("*.png"))
    assert text.count("<img ") == len(figures) > 0  # every figure, embedded
    assert "[index.html](index.html)" in (report.folder / "README.md").read_text()


def test_the_page_renders_in_a_browser_verdicts_first_figures_loaded_tables_sortable(
    fabricated,  # noqa: F811
):
    from selenium.webdriver.common.by import By

    _, _, report = fabricated
    driver = browser()
    try:
        driver.get((report.folder / "index.html").as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        sections = [s.get_attribute("id") for s in driver.find_elements(By.TAG_NAME, "section")]
        assert sections[:3] == ["findings", "deltas", "ablation"]
        rows = driver.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")
        shown = [r.find_elements(By.TAG_NAME, "td")[-1].text for r in rows]
        assert shown == [f.summary for f in report.findings]
        loaded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        assert loaded and all(loaded)

        table = driver.find_element(By.CSS_SELECTOR, "#ablation table")
        header = next(
            h for h in table.find_elements(By.TAG_NAME, "th") if h.text == "image Overall %"
        )
        column = [h.text for h in table.find_elements(By.TAG_NAME, "th")].index(header.text)

        def values() -> list[float]:
            cells = [r.find_elements(By.TAG_NAME, "td")[column].text for r in
                     table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip
            return [float(c.split()[0]) for c in cells]

        header.click()
        assert values() == sorted(values())
        header.click()
        assert values() == sorted(values(), reverse=True)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()


def test_text_from_a_sweep_file_fetches_nothing_and_runs_nothing():
    """A sweep's description reaches the page as text: an image in Markdown is not fetched,
    HTML is shown as text, a javascript: link is not a link."""
    from ablations.results.report_page import _markdown

    shown = _markdown(
        "![x](http://example.com/a.png) <script>alert(1)</script> [y](javascript:alert(1))"
    )
    assert "<img" not in shown and "<script>" not in shown and 'href="javascript' not in shown


def test_a_file_an_earlier_build_left_is_not_shown(tmp_path):
    """The page shows what this build wrote from MLflow, not a stale table beside it."""
    from ablations.results.report_page import write_page

    (tmp_path / "ablation.md").write_text("# t\n\n| variant |\n|---|\n| now |\n")
    (tmp_path / "tuning.md").write_text("# t\n\n| variant |\n|---|\n| stale |\n")
    text = write_page(tmp_path, "t", "", {}, [tmp_path / "ablation.md"]).read_text()
    assert "now" in text and "stale" not in text and 'id="tuning"' not in text
