"""The seeded training sample: sizes, disjointness, and independence from batching and sharding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from operators.base import DOC_KEY, TEXT, ShardInput
from operators.tokenizer.sample import Sample, StreamCounts, select_sample, stream_training_texts


def shards(texts: list[str], keys: np.ndarray, cuts: list[int], batch_size: int) -> list[ShardInput]:
    """The documents split into shards at `cuts`, read in batches of `batch_size`."""
    bounds = [0, *cuts, len(texts)]
    out = []
    for i in range(len(bounds) - 1):
        table = pa.table({TEXT: pa.array(texts[bounds[i]:bounds[i + 1]], pa.string()),
                          DOC_KEY: pa.array(keys[bounds[i]:bounds[i + 1]], pa.int64())})

        def batches(columns: list[str] | None, table: pa.Table = table) -> Iterator[pa.Table]:
            t = table.select(columns) if columns else table
            yield from (pa.Table.from_batches([b]) for b in t.to_batches(max_chunksize=batch_size))

        out.append(ShardInput(i, f"s{i}", batches))
    return out


TEXTS = [f"doc {i} " + "x" * (i % 50) for i in range(3000)]
KEYS = np.arange(3000, dtype=np.int64) * 7 + 11


def test_sample_does_not_depend_on_batches_or_shards():
    a = select_sample(shards(TEXTS, KEYS, [], 1000), seed=5, held_out_documents=40, max_documents=300, max_bytes=None)
    b = select_sample(shards(TEXTS, KEYS, [17, 1800], 7), seed=5, held_out_documents=40, max_documents=300,
                      max_bytes=None)
    assert np.array_equal(a.held_out, b.held_out) and np.array_equal(a.train, b.train)
    assert a.held_out.size == 40 and a.train.size == 300 and a.seen_documents == 3000
    assert not np.intersect1d(a.held_out, a.train).size
    c = select_sample(shards(TEXTS, KEYS, [], 1000), seed=6, held_out_documents=40, max_documents=300, max_bytes=None)
    assert not np.array_equal(a.train, c.train)  # another seed, another sample
    # uniform over the corpus: the sample reaches into every part of it
    assert np.histogram(a.train, bins=4, range=(0, 3000 * 7 + 11))[0].min() > 40


def test_byte_budget_stops_at_the_document_that_reaches_it():
    s = select_sample(shards(TEXTS, KEYS, [1000], 64), seed=1, held_out_documents=10, max_documents=None,
                      max_bytes=5000)
    sizes = {int(k): len(t.encode()) for k, t in zip(KEYS, TEXTS)}
    total = sum(sizes[int(k)] for k in s.train)
    assert total >= 5000
    # the budget was not yet reached before the last (highest-ranked) document was added
    from operators.tokenizer.sample import seeded_hash

    last = s.train[np.argmax(seeded_hash(s.train, 1))]
    assert total - sizes[int(last)] < 5000


def test_no_limit_trains_on_everything_not_held_out():
    s = select_sample(shards(TEXTS, KEYS, [500], 100), seed=0, held_out_documents=25, max_documents=None,
                      max_bytes=None)
    assert s.train is None and s.held_out.size == 25
    counts = StreamCounts()
    got = [t for batch in stream_training_texts(lambda: shards(TEXTS, KEYS, [500], 100), s, counts) for t in batch]
    held = set(s.held_out.tolist())
    expected = [t for k, t in zip(KEYS, TEXTS) if int(k) not in held]
    assert got == expected  # corpus order, nothing dropped but the held-out documents
    assert counts.documents == 2975 and counts.bytes == sum(len(t.encode()) for t in expected)


def test_held_out_rows_are_written_for_evaluation(tmp_path):
    from operators.tokenizer.sample import held_out_batches

    s = Sample(held_out=np.array([11, 18, 25]), train=np.array([32]))
    path = tmp_path / "held.parquet"
    train = [t for b in stream_training_texts(lambda: shards(TEXTS, KEYS, [], 2), s, held_out_path=path) for t in b]
    assert train == [TEXTS[3]]
    assert [t for b in held_out_batches(path) for t in b] == TEXTS[:3]
