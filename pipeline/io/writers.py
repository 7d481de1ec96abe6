"""Atomic Parquet shard writers: everything goes to a temporary name and is renamed on commit (on
an object store: spooled locally and uploaded whole on commit), so a killed run never leaves a
partial shard under its final name."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage import files
from storage.location import Location


class ShardWriter:
    """Streams tables into `<folder>/<name>.parquet` (or `<name>-00000.parquet`... when
    `rows_per_file` is set); nothing is visible under the final names before `commit()`."""

    def __init__(self, folder: Location, name: str, compression: str = "zstd", rows_per_file: int | None = None,
                 rename: dict[str, str] | None = None, drop: tuple[str, ...] = (), row_group_rows: int | None = None):
        self.folder = folder
        self.name = name
        self.compression = None if compression == "none" else compression
        self.rows_per_file = rows_per_file
        self.rename = rename or {}
        self.drop = drop
        self.schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0
        self._parts: list[tuple[files.AtomicFile, Location]] = []
        self.rows = 0
        # row groups of `row_group_rows` rows, whatever the batches written: the bytes then depend
        # on the rows alone, not on how a file was cut into batches or tasks (None: a group a write)
        self.row_group_rows = row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def _final_name(self, part: int) -> Location:
        if self.rows_per_file is None:
            return self.folder / f"{self.name}.parquet"
        return self.folder / f"{self.name}-{part:05d}.parquet"

    def _prepare(self, table: pa.Table) -> pa.Table:
        if self.drop:
            table = table.drop_columns([c for c in self.drop if c in table.column_names])
        if self.rename:
            table = table.rename_columns([self.rename.get(c, c) for c in table.column_names])
        if self.schema is None:
            dupes = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
            if dupes:  # pyarrow would write the file but could not read it back
                raise ValueError(f"{self.folder / self.name}: duplicate column name(s) {', '.join(dupes)}")
            self.schema = table.schema
        elif table.schema != self.schema:
            table = self._conform(table)
        return table

    def _conform(self, table: pa.Table) -> pa.Table:
        """A Parquet file has one schema: a later batch may lack a column (filled with nulls) but
        never bring a new one, which would be lost."""
        assert self.schema is not None
        extra = [c for c in table.column_names if c not in self.schema.names]
        if extra:
            raise ValueError(f"{self.folder / self.name}: column(s) {', '.join(extra)} not in the shard's first batch "
                             f"(columns: {', '.join(self.schema.names)}); every batch of a shard needs the same columns")
        for field in self.schema:
            if field.name not in table.column_names:
                table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise ValueError(
                f"{self.folder / self.name}: batch schema changed mid-shard: {table.schema} vs {self.schema}: {exc}"
            ) from None

    def _open(self) -> None:
        assert self.schema is not None
        final = self._final_name(len(self._parts))
        part = files.AtomicFile(final)
        part.handle.close()  # Arrow writes the temporary by path, natively
        self._writer = pq.ParquetWriter(str(part.temp_path), self.schema, compression=self.compression)
        self._parts.append((part, final))
        self._rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        table = self._prepare(table)
        self.rows += table.num_rows
        if self.row_group_rows is None or (table.num_rows == 0 and self._writer is None and not self._parts):
            self._write_rows(table)
            return
        if self._writer is None and not self._parts:
            self._open()  # the temporary exists from the first write on, as without buffering
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush(whole_groups_only=True)

    def _flush(self, whole_groups_only: bool) -> None:
        if not self._pending_rows:
            return
        assert self.row_group_rows is not None
        rows = pa.concat_tables(self._pending).combine_chunks()
        size = self.row_group_rows
        done = rows.num_rows - rows.num_rows % size if whole_groups_only else rows.num_rows
        for offset in range(0, done, size):
            self._write_rows(rows.slice(offset, min(size, done - offset)))
        self._pending = [rows.slice(done)] if done < rows.num_rows else []
        self._pending_rows = rows.num_rows - done

    def _write_rows(self, table: pa.Table) -> None:
        offset = 0
        while offset < table.num_rows or (self._writer is None and table.num_rows == 0):
            if self._writer is None:
                self._open()
            assert self._writer is not None
            room = table.num_rows - offset
            if self.rows_per_file is not None:
                room = min(room, self.rows_per_file - self._rows_in_file)
            if room > 0:
                self._writer.write_table(table.slice(offset, room))
            offset += room
            self._rows_in_file += room
            if self.rows_per_file is not None and self._rows_in_file >= self.rows_per_file and offset < table.num_rows:
                self._writer.close()
                self._writer = None
            if table.num_rows == 0:
                break

    def commit(self, empty_schema: pa.Schema | None = None) -> list[str]:
        """Close and rename into place; a shard with no rows still gets one (empty) file."""
        if self.row_group_rows is not None:
            self._flush(whole_groups_only=False)
        if self._writer is None and not self._parts:
            if self.schema is None:
                if empty_schema is None:
                    return []
                self.schema = self._prepare(empty_schema.empty_table()).schema
            self._open()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        names = []
        for part, final in self._parts:
            part.commit()
            names.append(final.name)
        return names

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for part, _ in self._parts:
            part.abort()


REJECTION_COLUMNS = ("operator", "reason")


def with_rejection(removed: pa.Table, operator: str, reasons: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Removed documents plus `operator` and `reason`; an input column already named so is kept
    as `input_operator` / `input_reason` (prefixed again while that name is taken)."""
    taken = set(removed.column_names) | set(REJECTION_COLUMNS)
    names = []
    for c in removed.column_names:
        if c in REJECTION_COLUMNS:
            new = f"input_{c}"
            while new in taken:
                new = f"input_{new}"
            taken.add(new)
            c = new
        names.append(c)
    table = removed.rename_columns(names)
    return (table.append_column("operator", pa.array([operator] * table.num_rows, pa.string()))
            .append_column("reason", reasons.cast(pa.string())))


def atomic_write_json(path: Location, data: Any) -> None:
    files.write_json(path, data)
