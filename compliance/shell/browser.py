"""Headless Chromium, to look at what the pipeline shows people the way they see it (emails on a phone and a
desktop, screenshots for the docs).

The browser is Debian's ``chromium`` with its ``chromium-driver`` (``make browser`` installs both, with the
Liberation fonts that stand in for Arial), driven with Selenium by the driver's path: Selenium Manager is never
asked to download a browser or a driver, which this machine could not reach anyway. Widths are set with the
DevTools device-metrics override, as a phone reports them (``mobile=True`` honours the page's viewport meta, so
an email without one lays out at 980 px as it would on a phone), and screenshots cover the whole page.

This is the shell: tests and commands import it, the library never does (tests/test_layout.py).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BROWSER_NAMES = ("chromium", "chromium-browser")
DRIVER_NAMES = ("chromedriver",)
# What `make browser` installs (tells a person how to get what is missing).
PACKAGES = "chromium chromium-driver fonts-liberation"
# Flags for reproducible pictures: no GPU, no scrollbars, one device pixel per CSS pixel, no font hinting
# (hinting differs between builds), and a root-safe sandbox setting (CI runs as root).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--font-render-hinting=none",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--lang=en-US",
)


@dataclass(frozen=True, slots=True)
class BrowserPaths:
    browser: str
    driver: str


def find_browser() -> BrowserPaths | None:
    """Chromium and its driver on PATH (``DC_CHROMIUM`` / ``DC_CHROMEDRIVER`` name others), or None."""
    browser = os.environ.get("DC_CHROMIUM") or next(filter(None, map(shutil.which, BROWSER_NAMES)), None)
    driver = os.environ.get("DC_CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVER_NAMES)), None)
    return BrowserPaths(browser, driver) if browser and driver else None


def unavailable_reason() -> str | None:
    """Why headless Chromium cannot run here, in one sentence with the fix; None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if find_browser() is None:
        return f"chromium and chromium-driver are not installed (make browser, or apt-get install {PACKAGES})"
    return None


class HeadlessChromium:
    """One headless Chromium session: open HTML at a given width, run a script, take a full-page screenshot."""

    def __init__(self, paths: BrowserPaths | None = None) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        paths = paths or find_browser()
        if paths is None:
            raise RuntimeError(unavailable_reason() or "chromium not found")
        self._profile = tempfile.mkdtemp(prefix="dc-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = paths.browser
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(executable_path=paths.driver), options=options)
        self.driver.set_page_load_timeout(60)
        self._pages = Path(self._profile) / "pages"
        self._pages.mkdir()
        self._count = 0
        self.width = 0
        self.height = 0
        self.mobile = False

    def set_viewport(self, width: int, height: int, *, mobile: bool) -> None:
        """The page's viewport as a device of ``width`` x ``height`` CSS pixels reports it."""
        self.width, self.height, self.mobile = width, height, mobile
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        })

    def open_html(self, html: str, width: int, height: int, *, mobile: bool) -> None:
        """Load ``html`` (from a file, as a mail client's viewer would) in a viewport of that size."""
        self.set_viewport(width, height, mobile=mobile)
        self._count += 1
        page = self._pages / f"page-{self._count}.html"
        page.write_text(html, encoding="utf-8")
        self.driver.get(page.as_uri())
        self.driver.execute_script("return document.fonts ? document.fonts.ready.then(() => true) : true")

    def evaluate(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: use ``return``) in the page."""
        return self.driver.execute_script(script, *args)

    def screenshot(self) -> bytes:
        """A PNG of the whole page at the current width (the viewport is stretched to the page's height for
        the picture, then put back)."""
        height = int(self.evaluate(
            "return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))"
        ))
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": max(height, 1), "deviceScaleFactor": 1, "mobile": self.mobile,
        })
        try:
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "fromSurface": True})
        finally:
            self.set_viewport(self.width, self.height, mobile=self.mobile)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)


@contextmanager
def headless_chromium(paths: BrowserPaths | None = None) -> Iterator[HeadlessChromium]:
    """A :class:`HeadlessChromium` closed (browser, driver and profile folder) on the way out."""
    browser = HeadlessChromium(paths)
    try:
        yield browser
    finally:
        browser.close()
