"""Math tab: click the first example problem and read the equation, its working, how sure the model is and the answer."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from demos.math_solver import test_set_examples


def exercise(page) -> None:
    page.locator("#tab-math_solver").get_by_text(test_set_examples()[0], exact=True).click()
    answer = page.locator("#math_solver-answer")
    expect(answer).to_contain_text(re.compile(r"Answer: \S+"), timeout=90_000)
    expect(answer).to_contain_text(re.compile(r"\d+ beams · \d+ ms"))
    expect(answer).to_contain_text("Equation:")
    expect(answer).to_contain_text("Working:")
    expect(answer.locator("li").first).to_contain_text(re.compile(r".+ = \S+"))  # the first operation and its result
    expect(answer).to_contain_text(re.compile(r"Confidence: the model gives this answer|Unsure: check this one"))
    expect(page.locator("#math_solver-normalised")).to_contain_text("N0")
    expect(page.locator("#math_solver-candidates")).to_contain_text("N0")
    expect(page.locator("#math_solver-candidates")).to_contain_text("probability")
