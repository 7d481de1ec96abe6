"""Documents of files named by path (a training step's reference, a CLI command's input), read
with the same readers as the run's input: (file, batch) pairs with `text` and `id` columns."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from pipeline.io.readers import list_shards, read_shard


def read_documents(paths: str | list[str], text_column: str = "text", batch_size: int = 1000
                   ) -> Iterator[tuple[str, pa.Table]]:
    from pipeline.recipe import InputSpec

    spec = InputSpec(path=paths, text_column=text_column, batch_size=batch_size)
    for shard in list_shards(spec):
        for batch in read_shard(shard, spec):
            yield shard.path, batch
