"""Paraphrase tab: click an example to generate ranked paraphrases, compare one of Su's pairs, search a list."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser_actions import ERROR_MARK, dismiss_toasts


def exercise(page) -> None:
    latency = page.locator("#roformer_sim-latency")
    page.locator("#roformer_sim-text textarea").fill("I want to travel to Beijing")  # the model reads Chinese: it says so
    page.locator("#roformer_sim-generate").click()
    expect(page.locator(".toast-body.error").filter(has_text="reads Chinese").first).to_be_visible(timeout=90_000)
    decoding = page.locator("#roformer_sim-decoding label")
    seed = page.locator("#roformer_sim-seed input")
    expect(seed).to_be_disabled()  # beam search (the default) does not use the seed
    decoding.filter(has_text="sampling").click()
    expect(seed).to_be_enabled()
    seed.fill("99999999999999999999999")  # beyond what the page's number box holds exactly: refused, not echoed rounded
    page.locator("#roformer_sim-text textarea").fill("我喜欢北京")
    page.locator("#roformer_sim-generate").click()
    expect(page.locator(".toast-body.error").filter(has_text="got a larger number").first).to_be_visible(timeout=90_000)
    assert "99999999999999991611392" not in page.inner_text("body")
    seed.fill("0")
    dismiss_toasts(page)
    page.get_by_text("广州和深圳哪个好？", exact=True).first.click()
    expect(latency).to_contain_text(re.compile(r"广州和深圳哪个好？ → \d+ distinct candidates \(of 20 beams.* \d+ ms"), timeout=90_000)
    table = page.locator("#roformer_sim-candidates")
    expect(table.locator("tbody tr").first).to_contain_text(re.compile(r"0\.\d{2}|1\.0"))
    expect(page.locator(f"#tab-roformer_sim {ERROR_MARK}:visible")).to_have_count(0)  # the success took the marks off
    expect(seed).to_be_disabled()  # the example set beam search again
    expect(table).to_contain_text("fluency (judge")  # the judge's score next to the model's cosine
    expect(table).to_contain_text("reader check")
    expect(latency).to_contain_text(re.compile(r"ordered by the reader check · \d+ pass the fluency judge"))

    decoding.filter(has_text="sampling").click()  # the other decoding, then back to the default beam search
    page.locator("#roformer_sim-text textarea").fill("今天天气不错")
    page.locator("#roformer_sim-generate").click()
    expect(latency).to_contain_text(re.compile(r"今天天气不错 → \d+ distinct candidates \(of 20 sampled"), timeout=90_000)
    expect(table).to_contain_text(re.compile(r"0\.\d{2}|1\.0"))
    decoding.filter(has_text="beam search").click()
    page.locator("#roformer_sim-generate").click()
    expect(latency).to_contain_text(re.compile(r"今天天气不错 → \d+ distinct candidates \(of 20 beams"), timeout=90_000)

    page.get_by_text("我不喜欢北京", exact=True).first.click()
    page.locator("#roformer_sim-compare").click()
    expect(page.locator("#roformer_sim-score")).to_contain_text(re.compile(r"cosine = -?\d\.\d{4}"), timeout=60_000)

    page.locator("#roformer_sim-matrix").click()
    expect(page.locator("#roformer_sim-heatmap")).to_contain_text("6 sentences", timeout=60_000)

    page.locator("#roformer_sim-search-list textarea").fill("怎么开通花呗\n为什么我的花呗不能用了\n忘记支付密码怎么办\n如何申请退款")
    page.locator("#roformer_sim-search-query textarea").fill("花呗用不了是什么原因")
    page.locator("#roformer_sim-search").click()
    expect(page.locator("#roformer_sim-search-note")).to_contain_text(
        re.compile(r"top 4 of 4 sentences from the pasted list \(encoded in .* query \d+ ms"), timeout=60_000)
    expect(page.locator("#roformer_sim-search-results tbody tr").first).to_contain_text("为什么我的花呗不能用了")
