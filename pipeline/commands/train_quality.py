"""`pipeline train-quality`: train the fastText quality classifier from positive (curated) and
negative (raw) documents, for the quality_classifier_filter operator."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_train_quality(args: argparse.Namespace) -> int:
    from operators.classifier.training import QualityConfig, train_quality_classifier
    from pipeline.cli import _fail, out
    from pipeline.commands._reference_texts import file_texts, parse_where

    try:
        pos_where, neg_where = parse_where(args.positive_where), parse_where(args.negative_where)
    except ValueError as exc:
        return _fail(str(exc))

    def take(paths: list[str], where: dict[str, list[str]]) -> list[str]:
        texts = file_texts(paths, args.text_column, where)
        return [t for _, t in zip(range(args.max_documents), texts)] if args.max_documents else list(texts)

    config = QualityConfig(epoch=args.epoch, lr=args.lr, word_ngrams=args.word_ngrams, dim=args.dim,
                           seed=args.seed, balance=not args.no_balance)
    try:
        report = train_quality_classifier(take(args.positive, pos_where), take(args.negative, neg_where),
                                          Path(args.out), config)
    except ValueError as exc:  # bad input, a missing column, too few documents (QualityTrainingError)
        return _fail(str(exc))
    acc = f"{report.validation_accuracy:.3f}" if report.validation_accuracy is not None else "n/a"
    out.print(f"[green]trained[/] {report.path}: {report.positives:,} positive, {report.negatives:,} negative "
              f"documents; {report.train_examples:,} training examples; held-out accuracy {acc}; "
              f"{report.seconds:.1f} s")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-quality", help="train a fastText quality classifier (positive vs negative documents)",
        description="Train a fastText supervised classifier that tells documents like the positive ones (e.g. "
                    "curated reference text) from the negative ones (e.g. raw crawl). Use the folder with the "
                    "quality_classifier_filter operator.")
    p.add_argument("--positive", nargs="+", required=True, help="positive documents: Parquet/JSONL paths or globs")
    p.add_argument("--negative", nargs="+", required=True, help="negative documents: Parquet/JSONL paths or globs")
    p.add_argument("--positive-where", action="append", default=[], metavar="COLUMN=V1,V2",
                   help="keep positive rows whose COLUMN is one of the values (repeatable)")
    p.add_argument("--negative-where", action="append", default=[], metavar="COLUMN=V1,V2")
    p.add_argument("--out", required=True, help="folder to write model.bin and quality.json to")
    p.add_argument("--text-column", default="text")
    p.add_argument("--max-documents", type=int, default=0, help="read at most this many of each class (0: all)")
    p.add_argument("--epoch", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--no-balance", action="store_true", help="keep class sizes as given (default: downsample)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train_quality)
