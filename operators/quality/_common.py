"""Kept for `keywords.py`, which still imports from here: the helpers live in `operators.columns`
(re-exported by `operators.base`); threshold rules are `operators.base.RuleFilter`."""

from operators.columns import add_columns as add_columns
from operators.columns import ratio as ratio
