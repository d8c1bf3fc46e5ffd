"""Browser fixtures: Debian's chromium driven by Playwright's Python package.

Playwright's own browser download is never used: chromium comes from apt
(``apt-get install -y chromium``) and is launched through ``executable_path``. When it is
missing the tests fail with that command in the message; they are never skipped.
Set ``PRISM_CHROMIUM`` to use a chromium binary elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    configured = os.environ.get("PRISM_CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "chromium is not installed, and the browser tests need it (they are never skipped). "
        "Install it with: apt-get update && apt-get install -y chromium "
        "(or set PRISM_CHROMIUM to a chromium binary). Do not run `playwright install`.",
        pytrace=False,
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield instance
        finally:
            await instance.close()


class PageProblems:
    """Console errors and uncaught exceptions of a page (CSP violations land here too)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.items.append(f"console {message.type}: {message.text}")

    def error(self, exc: Any) -> None:
        self.items.append(f"page error: {exc}")


OpenPage = Callable[..., Awaitable[tuple[Page, PageProblems]]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """``page, problems = await open_page(url, color_scheme="light")``; ``init_script``
    runs in the page before its own scripts."""
    contexts = []

    async def opener(
        url: str, *, color_scheme: str = "light", init_script: str | None = None
    ) -> tuple[Page, PageProblems]:
        context = await browser.new_context(
            viewport={"width": 1600, "height": 1000},
            color_scheme=color_scheme,  # type: ignore[arg-type]
            device_scale_factor=1,
        )
        context.set_default_timeout(15_000)  # hang guard for every wait below
        contexts.append(context)
        page = await context.new_page()
        problems = PageProblems()
        page.on("console", problems.console)
        page.on("pageerror", problems.error)
        if init_script:
            await page.add_init_script(init_script)
        await page.goto(url)
        return page, problems

    yield opener
    for context in contexts:
        await context.close()
