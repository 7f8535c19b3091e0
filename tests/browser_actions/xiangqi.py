"""Xiangqi tab: play two moves by clicking on the board and wait for the model's replies."""

from __future__ import annotations


def _click_move(page, source: str, target: str) -> None:
    board = page.locator("#xiangqi-board")
    board.locator(f'[data-square="{source}"]').click()
    board.locator(".xq-target").first.wait_for()  # the selected piece's legal targets are drawn
    board.locator(f'[data-square="{target}"]').click()


def exercise(page) -> None:
    moves = page.locator("#xiangqi-moves")
    _click_move(page, "h2", "e2")  # 炮二平五, the central cannon
    moves.get_by_text("炮二平五").wait_for()
    page.locator("#xiangqi-status").get_by_text("Model played").wait_for()
    _click_move(page, "h0", "g2")  # 马二进三
    moves.get_by_text("马二进三").wait_for()
    page.locator("#xiangqi-status").get_by_text("Red to move").wait_for()
    assert moves.locator("tr").count() >= 3  # header + two full moves
