"""The `token_count` mapper: tokens per document with a trained tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from operators.base import Mapper, texts, with_column
from operators.registry import register


@register
class TokenCount(Mapper):
    """Count tokens per document (column `token_count`, int64; metric `tokens`) with a tokenizer.json
    or SentencePiece .model; `artifact:<name>` is the one a train_tokenizer step of this recipe
    wrote to <output>/artifacts/<name>/."""

    name = "token_count"

    tokenizer: str = Field(description="tokenizer.json, a SentencePiece .model, a folder holding one, or "
                                       "artifact:<name> (trained earlier in this recipe)")
    add_special_tokens: bool = Field(False, description="count the special tokens the tokenizer adds "
                                                        "around each document ([CLS]/[SEP], <s>/</s>)")

    _handle: Any = PrivateAttr(default=None)

    def setup(self) -> None:
        from operators.tokenizer.loading import load_tokenizer

        self._handle = load_tokenizer(self._path())

    def _path(self) -> Path:
        return self.resolve_path(self.tokenizer)

    def process(self, table: pa.Table) -> pa.Table:
        if table.num_rows == 0:
            return with_column(table, "token_count", pa.array([], pa.int64()))
        ids = self._handle.encode_batch(texts(table), add_special_tokens=self.add_special_tokens)
        counts = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        self.add_metric("tokens", int(counts.sum()))
        return with_column(table, "token_count", pa.array(counts, pa.int64()))


