"""Headless Chromium for tests that look at a page as a person would (issue 15).

Playwright's sync API drives Debian's ``chromium`` (FEDGOV_CHROMIUM_BIN, else
``chromium`` on the PATH); no browser is downloaded. Without it a test skips, except
under ``CI=true``, where a missing browser fails (CI must not pass by skipping).
Read the binary once per session (:func:`chromium_binary` in a session fixture):
the root conftest clears FEDGOV_* variables before every test.

A :class:`Visit` holds what a person (and a careful one) would notice: the page's
text, a screenshot, console errors, uncaught page errors, and every request the
page made (a self-contained report makes none but its own URL).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Request, sync_playwright

from support.services import required


@dataclass(frozen=True)
class ChromiumBinary:
    path: str | None
    in_ci: bool

    def require(self) -> str:
        reason = (
            "the chromium browser is missing: `apt-get install -y chromium`, or export "
            "FEDGOV_CHROMIUM_BIN=/path/to/chromium"
        )
        return required(self.path, self.in_ci, reason)


def chromium_binary(env: Mapping[str, str] | None = None) -> ChromiumBinary:
    """Where Chromium is (FEDGOV_CHROMIUM_BIN, else the PATH) and whether this is CI."""
    env = os.environ if env is None else env
    return ChromiumBinary(
        path=env.get("FEDGOV_CHROMIUM_BIN") or shutil.which("chromium"),
        in_ci=env.get("CI", "").lower() == "true",
    )


@dataclass
class Visit:
    """One page load: its HTTP status (None for file://), text, screenshot and errors."""

    url: str
    status: int | None
    text: str = ""
    png: bytes = b""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.page_errors


class HeadlessChromium:
    """A launched browser; :meth:`visit` opens a URL in a fresh context each time."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser

    def visit(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        width: int = 1200,
        height: int = 900,
        full_page: bool = True,
        timeout_ms: float = 30_000,
        javascript: bool = True,
    ) -> Visit:
        """Load ``url`` (``headers``, e.g. a token, go with every request), wait until the
        network is idle, and record what the page showed and complained about."""
        context = self._browser.new_context(
            viewport={"width": width, "height": height},
            extra_http_headers=dict(headers or {}),
            java_script_enabled=javascript,
        )
        try:
            page = context.new_page()
            visit = Visit(url=url, status=None)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    visit.console_errors.append(f"{message.text} ({message.location})")

            def on_request(request: Request) -> None:
                visit.requests.append(request.url)

            page.on("console", on_console)
            page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
            page.on("request", on_request)
            response = page.goto(url, wait_until="networkidle", timeout=timeout_ms)
            visit.status = (
                response.status if response is not None and url.startswith("http") else None
            )
            visit.text = page.inner_text("body")
            visit.png = page.screenshot(full_page=full_page, type="png")
            return visit
        finally:
            context.close()


@contextmanager
def headless_chromium(executable: str) -> Iterator[HeadlessChromium]:
    """Chromium at ``executable`` (from :meth:`ChromiumBinary.require`), headless."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        try:
            yield HeadlessChromium(browser)
        finally:
            browser.close()


def non_blank(png: bytes, *, min_colours: int = 16, max_share: float = 0.98) -> bool:
    """Whether a screenshot shows something: at least ``min_colours`` distinct colours and
    no single colour covering more than ``max_share`` of the pixels."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    if len(colours) < min_colours:
        return False
    most = max(count for count, _ in colours)
    return most <= max_share * image.width * image.height
