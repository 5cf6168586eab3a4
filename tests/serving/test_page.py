"""The web page in a real headless Chromium (Debian's package, driven by Playwright).

Skipped where no Chromium is installed, unless ``FEDREC_REQUIRE_BROWSER=1``
(CI sets it, so there a missing browser fails instead of skipping).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.serving.conftest import CLICKS
from tests.serving.server import serving

CHROMIUM = os.environ.get("FEDREC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        if os.environ.get("FEDREC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def base(bundle_dir, tmp_path_factory):
    path = shutil.copytree(bundle_dir, tmp_path_factory.mktemp("page") / "bundle")
    with serving(path) as url:
        yield url


def test_a_new_user_gets_recommendations_with_reasons(browser, base, tmp_path):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_selector("#scenario option:nth-child(4)", state="attached")  # 3 + "all"
    page.wait_for_function("document.getElementById('privacy').textContent.includes('ε')")
    assert "per user" in page.inner_text("#privacy")
    # pure cold start: nothing typed, nothing picked
    page.click("#go")
    page.wait_for_selector("li.rec")
    assert "brand-new user" in page.inner_text("#status")
    # a profile, one item picked from the search box, one scenario
    page.fill("#profile", "weekend hiker who loves camping")
    page.fill("#search", "e")
    page.wait_for_selector("#matches div[data-id]")
    picked = page.get_attribute("#matches div[data-id]", "data-title")
    page.click("#matches div[data-id]")
    assert picked in page.inner_text("#history")
    page.select_option("#scenario", "music")
    page.fill("#k", "5")
    page.click("#go")
    page.wait_for_function("document.getElementById('status').textContent.includes('5 items')")
    rows = page.locator("li.rec")
    assert rows.count() == 5
    assert all("music" in rows.nth(n).inner_text() for n in range(5))
    assert "Because" in page.inner_text("li.rec .why")
    page.screenshot(path=str(tmp_path / "page.png"))
    # the model card view
    page.click("#tab-card")
    card = page.inner_text("#card-view")
    assert "Model card" in card and "differentially private" in card and "test" in card
    assert not errors, errors
    page.close()


def test_an_error_is_shown_not_swallowed(browser, base):
    page = browser.new_page()
    page.goto(base + "/")
    page.wait_for_selector("#scenario option:nth-child(4)", state="attached")
    page.fill("#k", "1000")
    page.click("#go")
    page.wait_for_selector("#status .error")
    assert "k" in page.inner_text("#status .error")
    page.close()


def test_a_routed_bundle_says_which_model_answered(browser, routed, tmp_path):
    path = shutil.copytree(routed, tmp_path / "bundle")
    with serving(path) as url:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('privacy').textContent.includes('ε')")
        page.click("#go")  # nothing known: the cold-start model answers
        page.wait_for_selector("li.rec")
        assert "cold-start model" in page.inner_text("#status")
        page.click("#tab-card")
        page.wait_for_selector("#cold-route")
        card = page.inner_text("#card-view")
        assert f"at most {CLICKS} items" in card and "cold users" in card
        assert not errors, errors
        page.close()
