"""Xiangqi tab: play a move by clicking, one typed in Chinese notation and a refused one, with the evaluation bar in view."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser_actions import expect_rejection


def _click_move(page, source: str, target: str) -> None:
    board = page.locator("#xiangqi-board")
    board.locator(f'[data-square="{source}"]').click()
    board.locator(".xq-target").first.wait_for()  # the selected piece's legal targets are drawn
    board.locator(f'[data-square="{target}"]').click()


def _type_move(page, text: str) -> None:
    box = page.locator("#xiangqi-move textarea, #xiangqi-move input").first
    box.fill(text)
    box.press("Enter")


def exercise(page) -> None:
    moves, status = page.locator("#xiangqi-moves"), page.locator("#xiangqi-status")
    bar = page.locator("#xiangqi-odds svg.xq-odds")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-label", "The model's guess: Red wins 33%, draw 33%, Black wins 33%")
    _click_move(page, "h2", "e2")  # 炮二平五, the central cannon
    moves.get_by_text("炮二平五").wait_for()
    status.get_by_text("Model played").wait_for()
    expect(status).to_contain_text("plies deep")  # the default strength is the search, which says how far it read
    _type_move(page, "马二进三")  # h0g2, typed as players write it
    moves.get_by_text("马二进三").wait_for()
    expect(moves.locator("tr").nth(2).locator("td").nth(2)).not_to_have_text("")  # the model's second reply
    assert moves.locator("tr").count() == 3  # header + two full moves
    expect(bar).not_to_have_attribute("data-red", "0.3333")  # the bar follows the game
    expect(bar).to_be_visible()
    rows = moves.locator("tr").count()
    _type_move(page, "炮二平十")  # not a move: one error toast, no error mark, the game stays as it was
    expect_rejection(page, "cannot read '炮二平十' as a move", "#tab-xiangqi")
    assert moves.locator("tr").count() == rows
