"""The check every model that reads Chinese shares: text without a single Chinese character is refused.

Those models were trained on Chinese text alone; English or emoji reach them as unknown or rare
tokens, and their answers (paraphrases, word boundaries) look like results but mean nothing.
Latin words and numbers inside a Chinese sentence are fine.
"""

from __future__ import annotations

import re

# Chinese punctuation (。「」 and the full-width ，！？：；（）: a lone 。 is Chinese text too), then CJK Unified
# Ideographs, Extension A, the compatibility block and the supplementary planes' extensions.
CHINESE = re.compile("[\u3001-\u303f\uff01-\uff0f\uff1a-\uff20"
                     "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def has_chinese(text: str) -> bool:
    return CHINESE.search(text or "") is not None


def require_chinese(text: str, what: str = "the text") -> None:
    """Raise ``ValueError`` when ``text`` (``what`` names it: "the query", "line 3") holds no Chinese character."""
    if not has_chinese(text):
        shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:40] + "…"
        raise ValueError(
            f"The model reads Chinese, and {what} {shown!r} has no Chinese character (汉字, or punctuation like 。): "
            "type a Chinese sentence (Latin words and numbers inside one are fine)."
        )
