"""`pipeline train-lm`: train a perplexity model (CCNet normalization, SentencePiece, modified
Kneser-Ney n-gram model as ARPA, percentile cutoffs) from reference documents."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path


def cmd_train_lm(args: argparse.Namespace) -> int:
    from operators.lm.cutoffs import SmallCutoffSampleWarning
    from operators.lm.training import LMConfig, train_language_model
    from pipeline.cli import _fail, out
    from pipeline.commands._reference_texts import file_texts, parse_where

    try:
        conditions = parse_where(args.where)
        cutoff_conditions = parse_where(args.cutoff_where)
    except ValueError as exc:
        return _fail(str(exc))
    config = LMConfig(order=args.order, vocab_size=args.vocab_size, model_type=args.model_type,
                      sp_sentences=args.sp_sentences, estimator=args.estimator, binary=args.binary,
                      seed=args.seed, lang=args.lang, holdout_fraction=args.holdout_fraction,
                      cutoff_documents=args.cutoff_documents)
    if not 0 < args.holdout_fraction < 1:
        return _fail(f"--holdout-fraction {args.holdout_fraction}: expected a number between 0 and 1")
    texts = file_texts(args.input, args.text_column, conditions, args.lang)
    cutoff_texts = None
    if args.cutoff_input:
        sample = file_texts(args.cutoff_input, args.text_column, cutoff_conditions, args.lang)
        cutoff_texts = [t for _, t in zip(range(args.cutoff_documents), sample)]
    try:
        with warnings.catch_warnings():  # printed below, from the report
            warnings.simplefilter("ignore", SmallCutoffSampleWarning)
            report = train_language_model(texts, Path(args.out), config, cutoff_texts=cutoff_texts)
    except ValueError as exc:  # bad input, a missing column, no text (TrainingError)
        return _fail(str(exc))
    held = f" ({report.held_out_documents:,} more held out)" if report.held_out_documents else ""
    out.print(f"[green]trained[/] {args.out}: {report.documents:,} documents{held}, {report.lines:,} lines, "
              f"{report.tokens:,} tokens, vocabulary {report.vocab_size:,}, n-grams {report.ngrams}, "
              f"estimator {report.estimator}, {report.seconds['total']:.1f} s")
    if report.cutoffs:
        where = ("held out of the reference, not trained on" if report.cutoff_source.startswith("held-out")
                 else f"of the cutoff sample ({report.cutoff_excluded_trained:,} dropped: also in the reference)")
        out.print("perplexity cutoffs (" + ", ".join(f"p{k}={v:.1f}" for k, v in report.cutoffs.items())
                  + f") from {report.cutoff_documents:,} documents {where}", markup=False)
    if report.cutoff_warning:
        out.print(f"warning: {report.cutoff_warning}", style="yellow", markup=False)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-lm", help="train a perplexity model (SentencePiece + n-gram) from reference text",
        description="Normalize reference documents as CCNet does, train a SentencePiece model and an interpolated "
                    "modified Kneser-Ney n-gram model (ARPA, loadable by KenLM), and save perplexity percentiles "
                    "(30th, 60th) beside them, computed on documents the model was not trained on: a held-out part "
                    "of the reference by default, or --cutoff-input. Use the folder with the perplexity_filter "
                    "operator.")
    p.add_argument("input", nargs="+", help="reference documents: Parquet/JSONL files, folders or globs")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--text-column", default="text")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=V1,V2",
                   help="keep rows whose COLUMN is one of the values (repeatable), e.g. source=bbc_news,wikitext2")
    p.add_argument("--lang", default="en", help="model language; rows with another `lang` value are skipped")
    p.add_argument("--order", type=int, default=5, help="n-gram order (default 5, as CCNet)")
    p.add_argument("--vocab-size", type=int, default=32000, help="SentencePiece vocabulary (smaller on small text)")
    p.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram", help="SentencePiece model type")
    p.add_argument("--sp-sentences", type=int, default=100_000, help="lines sampled to train SentencePiece")
    p.add_argument("--estimator", choices=["own", "lmplz", "auto"], default="own",
                   help="own estimator (default), KenLM's lmplz, or lmplz when found")
    p.add_argument("--binary", action="store_true", help="also write KenLM's binary format (needs build_binary)")
    p.add_argument("--cutoff-input", nargs="+", default=None,
                   help="a sample of the corpus to filter, for the percentile cutoffs (default: a held-out part "
                        "of the reference); documents also in the reference are dropped from it")
    p.add_argument("--cutoff-where", action="append", default=[], metavar="COLUMN=V1,V2")
    p.add_argument("--cutoff-documents", type=int, default=10_000,
                   help="at most this many documents for the cutoffs (held out, or of --cutoff-input)")
    p.add_argument("--holdout-fraction", type=float, default=0.1,
                   help="part of the reference held out of training for the cutoffs (without --cutoff-input)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train_lm)
