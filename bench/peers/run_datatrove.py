"""Drive datatrove 0.10.1 (run with the datatrove environment's Python, see make_envs.py).

Usage: HF_HOME=bench/peers/_envs/hf_home run_datatrove.py {chain,minhash} INPUT_FOLDER WORK_FOLDER [--workers 2]

HF_HOME points datatrove's asset cache at the LID model make_envs.py laid out (no download).

chain:   LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter ->
         C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> PIIFormatter
         -> ParquetWriter, one task per input file.
minhash: the four stages of datatrove's MinHash with its defaults (signatures, 14 buckets, one
         cluster task, filter -> ParquetWriter), as in datatrove's own example.
Prints one JSON line: documents in, kept, removed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter


def run_chain(inputs: Path, work: Path, workers: int, files: int) -> None:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter

    steps = [ParquetReader(str(inputs)), LanguageFilter(languages=["en"], language_threshold=0.65),
             GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
             FineWebQualityFilter(), PIIFormatter(), ParquetWriter(str(work / "out"))]
    LocalPipelineExecutor(steps, tasks=files, workers=workers, logging_dir=str(work / "logs"), skip_completed=False).run()


def run_minhash(inputs: Path, work: Path, workers: int, files: int) -> None:
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )

    config = MinhashConfig()  # defaults: 5-grams, 14 buckets x 8 hashes, xxhash 64
    s = work / "minhash"

    def stage(name: str, steps: list, tasks: int, depends=None) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(steps, tasks=tasks, workers=workers, logging_dir=str(work / f"logs-{name}"),
                                     depends=depends, skip_completed=False)

    sigs = stage("signatures", [ParquetReader(str(inputs)), MinhashDedupSignature(str(s / "signatures"), config=config)],
                 files)
    buckets = stage("buckets", [MinhashDedupBuckets(str(s / "signatures"), str(s / "buckets"), config=config)],
                    config.num_buckets, sigs)
    cluster = stage("cluster", [MinhashDedupCluster(str(s / "buckets"), str(s / "remove_ids"), config=config)], 1,
                    buckets)
    stage("filter", [ParquetReader(str(inputs)), MinhashDedupFilter(str(s / "remove_ids")), ParquetWriter(str(work / "out"))],
          files, cluster).run()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["chain", "minhash"])
    ap.add_argument("inputs", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    files = sorted(args.inputs.glob("*.parquet"))
    docs_in = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    (run_chain if args.what == "chain" else run_minhash)(args.inputs, args.work, args.workers, len(files))
    kept = sum(pq.ParquetFile(f).metadata.num_rows for f in (args.work / "out").glob("*.parquet"))
    print(json.dumps({"documents": docs_in, "kept": kept, "removed": docs_in - kept}))


if __name__ == "__main__":
    main()
