"""Columns every document batch carries between readers, operators and writers."""

TEXT = "text"
ID = "id"
# int64 (shard index << SHARD_BITS) + row: a document's place in corpus order, never written out
DOC_KEY = "_doc_key"
SHARD_BITS = 40
INTERNAL_COLUMNS = (DOC_KEY,)
