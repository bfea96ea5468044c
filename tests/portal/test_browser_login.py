"""The portal in a real browser: Debian's Chromium driven by Playwright, against the live demo bridge.

Never run ``playwright install``: the test uses the system Chromium at ``/usr/bin/chromium`` and fails
(rather than skips) when it is missing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from bridge.demo.seed import DEMO_PASSWORD
from bridge.i18n import Translator
from tests.conftest import Bridge

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}

ZH = Translator("zh-CN")
EN = Translator("en")

# username -> message key of the title of the page the role lands on
ROLE_TITLES = {
    "nurse1": "home.nurse.title",
    "doctor": "home.doctor.title",
    "pharmacist": "home.pharmacist.title",
    "supervisor": "home.supervisor.title",
    "admin": "admin.accounts.title",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install chromium); do not use `playwright install`"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        yield ctx
    finally:
        ctx.close()


def html_lang(page: Page) -> str | None:
    return page.locator("html").get_attribute("lang")


def log_in(page: Page, bridge: Bridge, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{bridge.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button.primary")


def page_title(page: Page) -> Locator:
    return page.get_by_test_id("page-title")


def switch_language(page: Page, locale: str) -> None:
    page.locator(f'form[action="/lang"] button[name=locale][value="{locale}"]').click()


def reset_locale(bridge: Bridge, username: str, locale: str = "zh-CN") -> None:
    """Safety net: the account locale lives in the shared session database."""
    with bridge.services() as services:
        account = services.accounts.by_username(username)
        if account is not None and account.locale != locale:
            services.accounts.set_locale(account, locale)


@pytest.mark.parametrize("username", list(ROLE_TITLES))
def test_login_language_switch_is_remembered_per_account(
    bridge: Bridge, browser: Browser, context: BrowserContext, username: str
) -> None:
    title_key = ROLE_TITLES[username]
    page = context.new_page()
    try:
        page.goto(f"{bridge.url}/login")
        assert html_lang(page) == "zh-Hans"
        expect(page.locator("main h1")).to_have_text(ZH("login.title"))

        log_in(page, bridge, username)
        expect(page).to_have_url(f"{bridge.url}/")
        expect(page_title(page)).to_have_text(ZH(title_key))
        expect(page.get_by_test_id("who")).to_be_visible()

        switch_language(page, "en")
        expect(page_title(page)).to_have_text(EN(title_key))
        assert html_lang(page) == "en"

        page.locator('form[action="/logout"] button').click()
        expect(page).to_have_url(re.compile(r"/login\?reason=logout$"))
        context.close()

        # A fresh browser knows nothing of the choice; the account does.
        fresh = browser.new_context(viewport=VIEWPORT)
        try:
            page = fresh.new_page()
            page.goto(f"{bridge.url}/login")
            assert html_lang(page) == "zh-Hans"
            expect(page.locator("main h1")).to_have_text(ZH("login.title"))

            log_in(page, bridge, username)
            expect(page).to_have_url(f"{bridge.url}/")
            expect(page_title(page)).to_have_text(EN(title_key))
            assert html_lang(page) == "en"

            switch_language(page, "zh-CN")
            expect(page_title(page)).to_have_text(ZH(title_key))
            assert html_lang(page) == "zh-Hans"
        finally:
            fresh.close()
    finally:
        reset_locale(bridge, username)


def test_nurse_opens_a_resident_from_the_home_tiles(bridge: Bridge, context: BrowserContext, tmp_path: Path) -> None:
    page = context.new_page()
    log_in(page, bridge, "nurse1")
    expect(page).to_have_url(f"{bridge.url}/")
    expect(page_title(page)).to_have_text(ZH("home.nurse.title"))

    tiles = page.get_by_test_id("resident")
    expect(tiles.first).to_be_visible()
    assert tiles.count() > 0

    screenshot = tmp_path / "nurse-home-1280x800.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 0

    tile = tiles.first
    name = tile.locator("strong").inner_text().strip()
    href = tile.get_attribute("href")
    assert name
    assert href is not None
    assert re.fullmatch(r"/residents/[^/]+", href)

    tile.click()
    expect(page).to_have_url(f"{bridge.url}{href}")
    expect(page_title(page)).to_have_text(name)


def test_wrong_password_shows_the_chinese_error(bridge: Bridge, context: BrowserContext) -> None:
    page = context.new_page()
    # An account that does not exist, so no demo account gets locked (three failures lock it here).
    log_in(page, bridge, f"nobody-{uuid.uuid4().hex[:10]}", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text(ZH("login.failed"))
    assert html_lang(page) == "zh-Hans"
    expect(page.locator("input[name=password]")).to_have_value("")
