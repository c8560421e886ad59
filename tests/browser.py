"""The headless Chromium that the browser tests drive with Playwright (tests/test_site.py,
tests/test_lab.py, tests/test_hub.py): a system Chromium, installed from Debian's `chromium`
package when it is missing and we may (root with apt-get). Playwright's own browser download
(`playwright install`) is not possible here.

Also the steps through nbgrader's JupyterLab panels that the lab and the Hub tests share."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from debian import apt_install, can_install

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


def find_or_install_chromium() -> Path:
    """$CHROMIUM_PATH, else Debian's chromium (installed when missing)."""
    candidates = [os.environ.get("CHROMIUM_PATH"), str(CHROMIUM), "/usr/bin/chromium-browser"]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    if not can_install():
        pytest.fail(
            f"no Chromium at {CHROMIUM}, and it cannot be installed here (needs root and "
            "apt-get): install Debian's `chromium` package (apt-get install chromium), or set "
            "CHROMIUM_PATH to a Chromium or Chrome binary, and rerun",
            pytrace=False,
        )
    tail = apt_install("chromium")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"`apt-get install chromium` did not install {CHROMIUM}:\n{tail}", pytrace=False
        )
    return CHROMIUM


VIEWPORT = {"width": 1400, "height": 900}


@contextlib.contextmanager
def headless_chromium(chromium: Path | None = None):
    """A Playwright browser on Debian's Chromium (found or installed), closed afterwards."""
    from playwright.sync_api import sync_playwright

    executable = chromium or find_or_install_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def loopback_page(browser, base_url: str, report: dict, timeout_ms: int):
    """A page in a fresh browser context that may only reach `base_url`: requests to any
    other host are aborted and listed in ``report["external_requests"]``."""
    context = browser.new_context(viewport=VIEWPORT)
    report.setdefault("external_requests", [])

    def route(request_route):
        if request_route.request.url.startswith(base_url):
            request_route.continue_()
        else:
            report["external_requests"].append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()


# ------------------------------------------------------ nbgrader in JupyterLab, as clicked
def open_assignments(page) -> str:
    """Open nbgrader's Assignments panel; return the course selector's text once loaded."""
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.click(".lm-Menu-itemLabel:text-is('Assignment List')")
    loading = "Loading, please wait..."
    page.wait_for_function(
        "t => { const e = document.querySelector('#course_list_default'); "
        "return e && e.innerText.trim() && e.innerText.trim() !== t; }",
        arg=loading,
    )
    page.wait_for_function(  # the three lists have finished loading
        "() => [...document.querySelectorAll('#assignments .list_loading')]"
        ".every(e => e.hidden || e.offsetParent === null)"
    )
    return page.inner_text("#course_list_default").strip()


def panel_errors(page) -> list[str]:
    return [
        text.strip()
        for text in page.locator("#assignments .list_error:visible").all_inner_texts()
        if text.strip()
    ]


def assignment_names(page, list_id: str) -> list[str]:
    """Assignment names in one of the panel's lists (not the notebooks nested under them)."""
    return page.locator(f"#{list_id} > .list_item > div > .item_name").all_inner_texts()


def modal_text(page) -> str:
    page.wait_for_selector(".modal.in .modal-body, .modal .modal-body")
    return page.inner_text(".modal .modal-body")
