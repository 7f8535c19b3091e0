"""Per-tab browser actions (``exercise(page)``) and the checks they share."""

from __future__ import annotations

import contextlib

from playwright.sync_api import expect

# Gradio's red "Error" mark on an output whose last event failed (the toast is a separate element).
ERROR_MARK = '[data-testid="status-tracker"] .error'


def expect_rejection(page, message: str, tab: str) -> None:
    """A rejected input shows one error toast with ``message``, leaves no "Error" mark in ``tab`` (``#tab-...``) once
    handled, and the toast is closed again (the browser test fails on any error toast left at the end of a tab)."""
    toast = page.locator(".toast-body.error").filter(has_text=message)
    expect(toast.first).to_be_visible(timeout=60_000)
    toast.first.locator('[data-testid="toast-close"]').click()
    expect(toast).to_have_count(0)
    expect(page.locator(f"{tab} {ERROR_MARK}:visible")).to_have_count(0, timeout=30_000)


def dismiss_toasts(page) -> None:
    """Toasts stay up for a while (an error toast for 10 s): close them, e.g. for a tab's screenshot."""
    from playwright.sync_api import Error as PlaywrightError

    closes = page.locator('[data-testid="toast-close"]')
    for _ in range(10):
        if closes.count() == 0:
            return
        with contextlib.suppress(PlaywrightError):
            closes.first.click(timeout=2_000)
