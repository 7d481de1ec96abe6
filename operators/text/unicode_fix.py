"""`fix_unicode`: repair mojibake and broken encodings with ftfy."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from operators.base import Mapper
from operators.registry import register
from operators.text.rewrite import batch_text, rewrite_rows, set_text

# Text ftfy can change: anything beyond printable ASCII, tab and newline (mojibake, control and
# escape characters, "\r\n", ligatures, full-width forms, curly quotes), and "&" (HTML entities,
# which ftfy unescapes in text without "<"). Rows without any of these are left alone untouched.
_MAY_NEED_FIXING = r"[^\t\n\x20-\x25\x27-\x7e]"


@register
class FixUnicode(Mapper):
    """Repair mojibake and broken encodings with ftfy (`ftfy.fix_text`, its default fixes).

    "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t" becomes "The Mona Lisa doesn't": text decoded with
    the wrong codec (once or several times) is re-decoded, and ftfy's other default fixes apply
    too: HTML entities in text without "<" are unescaped, curly quotes become straight ones,
    ligatures and full-width letters are expanded, "\\r\\n" becomes "\\n", terminal escapes and
    control characters are removed, then the Unicode `normalization` (NFC by default) is applied.
    Data-Juicer's fix_unicode_mapper calls the same function with the same default.

    Only rows holding a character ftfy could change (found with one vectorized regex pass) go
    through ftfy, so ASCII prose costs a scan. Metrics: `fix_unicode:documents_changed`,
    `fix_unicode:chars_removed`.
    """

    name = "fix_unicode"
    normalization: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field(
        "NFC", description="Unicode normal form applied after the fixes (ftfy's and Data-Juicer's default NFC)")

    _config: Any = PrivateAttr(default=None)

    def setup(self) -> None:
        import ftfy

        self._config = ftfy.TextFixerConfig(normalization=self.normalization)

    def process(self, table: pa.Table) -> pa.Table:
        self.ensure_setup()
        import ftfy

        before = batch_text(table)
        config = self._config

        def fix(texts: pa.Array) -> pa.Array:
            return pa.array([ftfy.fix_text(t, config) for t in texts.to_pylist()], texts.type)

        after = rewrite_rows(before, pc.match_substring_regex(before, _MAY_NEED_FIXING), fix)
        return set_text(self, table, before, after)
