"""One real-browser pass over the whole app: Playwright drives Debian's chromium.

Each tab may add its main action in ``tests/browser_actions/<module>.py: exercise(page)``.
Screenshots go to ``tests/artifacts/``; with ``UPDATE_SCREENSHOTS=1`` also to ``docs/screenshots/`` (the README's).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest

import app
from tests.browser_actions import dismiss_toasts

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def chinese_renders(page) -> bool:
    """True when 象 is drawn with a real glyph: without a CJK font it is the same tofu box as an
    unassigned code point."""
    return page.evaluate(
        """() => {
            const c = document.createElement('canvas').getContext('2d');
            c.font = '32px sans-serif';
            const box = c.measureText('\\u{10FFFD}').width;
            return ['象', '棋', '相似句'].every(t => c.measureText(t).width !== box * t.length);
        }"""
    )


def cjk_font_installed() -> bool:
    return shutil.which("fc-list") is not None and "WenQuanYi" in os.popen("fc-list :lang=zh").read()


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(app_url)
        pg.get_by_role("tab", name=app.TABS[0][1]).wait_for()
        yield pg
        browser.close()


def assert_no_errors(page, where: str) -> None:
    body = page.inner_text("body")
    assert "Traceback" not in body, f"traceback on the page after {where}"
    toasts = page.locator(".toast-body.error, .toast-wrap .error")
    assert toasts.count() == 0, f"error toast after {where}: {toasts.first.inner_text()}"


def test_every_tab_opens_and_renders_chinese(page):
    if not cjk_font_installed():
        pytest.skip("no CJK font: apt-get install fonts-wqy-microhei (Chinese would render as boxes)")
    assert chinese_renders(page)
    for module_name, title in app.TABS:
        page.get_by_role("tab", name=title).click()
        page.locator(f"#tab-{module_name}").wait_for(state="visible")
        try:
            actions = importlib.import_module(f"tests.browser_actions.{module_name}")
        except ModuleNotFoundError:
            actions = None
        if actions is not None:
            actions.exercise(page)
        assert_no_errors(page, f"opening {title}")
        dismiss_toasts(page)
        shot = ARTIFACTS / f"tab-{module_name}.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("UPDATE_SCREENSHOTS"):  # the README's copies
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
