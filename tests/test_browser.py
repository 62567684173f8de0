"""An employee in a real browser (Playwright driving Debian's Chromium): sign in, submit, follow.

Set SCREENSHOTS_DIR to keep the screenshots the README shows.
"""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]  # fmt: skip


def _chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {path}; CI must install it")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def page(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server.url)
        yield context.new_page()
        browser.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_employee_submits_in_the_browser_and_sees_it_reach_general(page, alice, worker):
    page.goto("/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url("**/tickets/")
    assert page.locator("h1").inner_text() == "My tickets"

    page.click("text=New ticket >> nth=0")
    page.click("button:has-text('Submit ticket')")  # empty form: explained, nothing saved
    assert page.locator("#id_subject-error").inner_text() == "Please give your ticket a subject."
    page.goto("/tickets/new/")
    page.fill("#id_subject", "Second monitor flickers")
    page.fill("#id_description", "The external monitor on my desk flickers every few seconds since Monday.")
    _shot(page, "submit-form")
    page.click("button:has-text('Submit ticket')")
    page.wait_for_url("**/tickets/*/")
    assert "Ticket SD-" in page.locator(".message.success").inner_text()

    for _ in range(120):  # the worker escalates it; reload until the page shows the team
        page.reload()
        if page.locator(".facts").inner_text().count("General"):
            break
        page.wait_for_timeout(500)
    facts = page.locator(".facts").inner_text()
    assert "General" in facts
    assert "agent disabled" in facts
    assert "passed to the General team" in page.locator(".timeline").inner_text()
    _shot(page, "ticket-page")

    page.click("text=My tickets")
    row = page.locator("table.table tbody tr").first
    assert "Second monitor flickers" in row.inner_text()
    assert "With the service desk" in row.inner_text()
    _shot(page, "my-tickets")
