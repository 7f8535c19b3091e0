"""Models that read Chinese refuse text without a Chinese character, whatever other scripts it mixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.chinese import has_chinese, require_chinese

LATIN = "IwanttotravelBeijing "
OTHER = "0123456789 .,!?😀🚀éß—…"
HAN = "我想去北京旅行龘𠀋。「，？"  # common, rare and supplementary-plane characters, Chinese punctuation


@given(st.text(alphabet=LATIN + OTHER, min_size=1))
def test_text_without_a_chinese_character_is_refused(text):
    with pytest.raises(ValueError, match="reads Chinese, and the text .* has no Chinese character"):
        require_chinese(text)


@given(st.text(alphabet=LATIN + OTHER), st.sampled_from(HAN), st.text(alphabet=LATIN + OTHER))
def test_one_chinese_character_anywhere_is_enough(before, han, after):
    assert has_chinese(before + han + after)
    require_chinese(before + han + after)


def test_the_message_names_what_was_refused():
    with pytest.raises(ValueError, match="the query 'I want to travel to Beijing' has no Chinese character"):
        require_chinese("I want to travel to Beijing", "the query")
