"""Segmentation & parse tab: click Su's example, read the words back, check the pictures appear, switch the join rule."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser_actions import expect_rejection

SENTENCE = "大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌"


def exercise(page) -> None:
    english_is_refused_and_spaced_latin_words_stay_apart(page)
    short_sentence_gives_one_tree(page)
    offline_hub_choice_leaves_the_tab_working(page)
    su_example_with_every_rule(page)  # last: the screenshot shows it


def su_example_with_every_rule(page) -> None:
    page.get_by_text(SENTENCE, exact=True).first.click()
    ours = page.locator("#perturbed_masking-ours")
    expect(page.locator("#perturbed_masking-info")).to_contain_text(f"{len(SENTENCE)} characters", timeout=120_000)
    words = ours.locator(".pm-word").all_inner_texts()
    assert "".join(words) == SENTENCE and 1 < len(words) < len(SENTENCE), words
    expect(page.locator("#perturbed_masking-reference")).to_contain_text("大肠杆菌")  # jieba's row
    expect(page.locator("#perturbed_masking-dependency svg text").first).to_be_visible()  # the title's icon is an svg too
    expect(page.locator("#perturbed_masking-constituency svg text").first).to_be_visible()
    expect(page.locator("#perturbed_masking-bars svg rect title")).to_have_count(len(SENTENCE) - 1)  # a bar per gap
    expect(page.locator("#perturbed_masking-heatmap svg").get_by_text("masked word j")).to_be_visible()

    default_words = words
    threshold = page.locator("#perturbed_masking-threshold input[type=number]")
    before = threshold.input_value()
    page.locator("#perturbed_masking-rule").get_by_text("impact ≥ threshold (Su)").click()
    expect(threshold).not_to_have_value(before, timeout=30_000)  # the other rule's tuned threshold
    words = ours.locator(".pm-word").all_inner_texts()
    assert "".join(words) == SENTENCE, words
    su_threshold = threshold.input_value()
    page.locator("#perturbed_masking-rule").get_by_text("relative + prediction contrast ≥ threshold").click()
    expect(threshold).not_to_have_value(su_threshold, timeout=30_000)  # the combined rule's own threshold
    page.locator("#perturbed_masking-rule").get_by_text("read-out of every layer, fitted on segmented text ≥ threshold").click()
    expect(threshold).to_have_value(before, timeout=30_000)  # back to the tuned default (fitted) for the screenshot
    expect(page.locator("#tab-perturbed_masking").get_by_text("processing")).to_have_count(0, timeout=60_000)  # redraw done
    assert ours.locator(".pm-word").all_inner_texts() == default_words  # no late redraw of the other rule


def english_is_refused_and_spaced_latin_words_stay_apart(page) -> None:
    """English alone: the model reads Chinese, says so; Latin words typed with spaces in a Chinese sentence stay two."""
    text = page.locator("#perturbed_masking-text textarea")
    text.fill("I want to travel to Beijing")
    page.locator("#perturbed_masking-run").click()
    expect_rejection(page, "reads Chinese", "#tab-perturbed_masking")
    text.fill("我想去New York")
    page.locator("#perturbed_masking-run").click()
    expect(page.locator("#perturbed_masking-info")).to_contain_text("10 characters", timeout=60_000)
    words = page.locator("#perturbed_masking-ours .pm-word").all_inner_texts()
    assert "".join(words) == "我想去NewYork" and not any("NewYork" in w for w in words), words


def short_sentence_gives_one_tree(page) -> None:
    """A two-character sentence (once an error): its words, a tree and an info line, no error."""
    page.locator("#perturbed_masking-text textarea").fill("今天")
    page.locator("#perturbed_masking-run").click()
    expect(page.locator("#perturbed_masking-info")).to_contain_text("2 characters", timeout=60_000)
    words = page.locator("#perturbed_masking-ours .pm-word").all_inner_texts()
    assert "".join(words) == "今天", words
    expect(page.locator("#perturbed_masking-constituency svg text").first).to_be_visible()


def offline_hub_choice_leaves_the_tab_working(page) -> None:
    """Without network the Hub model is marked, choosing it says so in one error toast, and the tab keeps working."""
    selector = page.locator("#perturbed_masking-model input")
    selector.click()
    page.get_by_role("option", name="bert-base-chinese (needs network)").click()
    expect_rejection(page, "needs network", "#tab-perturbed_masking")  # no control marked as failed
    expect(selector).to_have_value("bundled")  # back on the model in use
    page.locator("#perturbed_masking-text textarea").fill("我爱你")
    page.locator("#perturbed_masking-run").click()
    expect(page.locator("#perturbed_masking-info")).to_contain_text("3 characters", timeout=60_000)
