"""Benchmark: n-gram LM training (own estimator vs KenLM's lmplz, same tokens, side by side) and
document scoring (perplexity_filter's scorer vs bare SentencePiece encode + kenlm score).

    .venv/bin/python bench/bench_lm.py [--tokens 10000000] [--order 5] [--score-docs 5000] [--corpus-check]

Text: ../shared/data/corpus_en, normalized as CCNet, SentencePiece-encoded (a unigram model
trained on 100k sampled lines). Each estimator runs in its own process; peak RSS is that
process's ru_maxrss. The machine is shared (2 cores, other jobs): absolute numbers are noisy,
the ratios measured in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "corpus_en"


def docs_iter():
    for path in sorted(glob.glob(str(CORPUS / "part-*.parquet"))):
        yield from pq.read_table(path, columns=["text"]).column("text").to_pylist()


def prepare(work: Path, tokens: int) -> dict:
    """Normalized lines -> SentencePiece -> a spool of `tokens` ids and the same as text."""
    import sentencepiece as spm

    from operators.lm.normalize import document_lines, normalize_lines
    from operators.lm.sentencepiece_train import train_sentencepiece
    from operators.lm.spool import TokenSpool, flat_from_lists

    meta_path = work / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    words = 0
    batch: list[str] = []
    for doc in docs_iter():
        batch.append(doc)
        if len(batch) == 2000:
            raw, _ = document_lines(batch)
            new = [x for x in normalize_lines(raw) if x]
            lines += new
            words += sum(len(x.split()) for x in new)
            batch = []
            if words > tokens * 0.8:  # pieces outnumber words
                break
    rng = np.random.default_rng(0)
    sample = [lines[i] for i in rng.choice(len(lines), size=min(100_000, len(lines)), replace=False)]
    t = time.perf_counter()
    sp_path = train_sentencepiece(sample, work / "sp", vocab_size=32000)
    sp_seconds = time.perf_counter() - t
    sp = spm.SentencePieceProcessor(model_file=str(sp_path))
    vocab = ["<unk>", "<s>", "</s>", *(sp.id_to_piece(i) for i in range(3, sp.get_piece_size()))]
    spool = TokenSpool(work / "spool")
    total = 0
    with open(work / "pieces.txt", "w", encoding="utf-8") as out:
        for i in range(0, len(lines), 20_000):
            ids = [[x for x in row if x] for row in sp.encode(lines[i:i + 20_000], out_type=int)]
            if total >= tokens:
                break
            flat, lengths = flat_from_lists(ids)
            spool.add(flat, lengths)
            total = spool.tokens
            for row in ids:
                if row:
                    out.write(" ".join(vocab[x] for x in row) + "\n")
    spool.close()
    meta = {"tokens": spool.tokens, "sentences": spool.sentences, "files": [str(f) for f in spool.files],
            "sp_seconds": sp_seconds, "sp_sample_lines": len(sample), "vocab": vocab}
    meta_path.write_text(json.dumps(meta))
    return meta


def run_own(work: Path, order: int) -> None:
    """Child: the own estimator on the prepared spool, ARPA written."""
    from operators.lm.arpa import write_arpa
    from operators.lm.kneser_ney import estimate
    from operators.lm.spool import TokenSpool

    meta = json.loads((work / "meta.json").read_text())
    spool = TokenSpool(work / "spool")
    spool.files = [Path(f) for f in meta["files"]]
    spool.tokens, spool.sentences = meta["tokens"], meta["sentences"]
    t = time.perf_counter()
    model = estimate(spool, order, work / "count")
    t_est = time.perf_counter() - t
    write_arpa(model, meta["vocab"], work / "own.arpa")
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"estimate_s": t_est, "total_s": time.perf_counter() - t, "ngrams": model.counts(),
                      "peak_rss_gb": rss_gb}))


def child(args: list[str]) -> tuple[dict, float, str]:
    """Run a child process; (its last JSON line or {}, wall seconds, its stderr)."""
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    out = {}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            out = json.loads(line)
            break
    return out, wall, proc.stderr


def bench_training(work: Path, order: int) -> dict:
    from operators.lm.kenlm_tools import find_tool

    meta = json.loads((work / "meta.json").read_text())
    results = {"tokens": meta["tokens"], "sentences": meta["sentences"]}
    lmplz = find_tool("lmplz")
    if lmplz:
        _, wall, err = child([str(lmplz), "-o", str(order), "--discount_fallback", "--skip_symbols", "-S", "2G",
                              "-T", str(work) + "/", "--text", str(work / "pieces.txt"), "--arpa",
                              str(work / "lmplz.arpa")])
        found = re.search(r"RSSMax:(\d+) kB", err)  # lmplz reports its own peak
        results["lmplz"] = {"seconds": wall, "peak_rss_gb": int(found.group(1)) / 1024 / 1024 if found else None}
    out, wall, _ = child([sys.executable, __file__, "--child-own", str(work), "--order", str(order)])
    results["own"] = {"seconds": wall, **out}
    return results


def bench_scoring(work: Path, n_docs: int, order: int) -> dict:
    """Scorer (normalize + encode + score + per-document sum) vs bare encode + score per line."""
    import kenlm
    import sentencepiece as spm

    from operators.lm.scoring import PerplexityModel

    folder = work / "model"
    folder.mkdir(exist_ok=True)
    if not (folder / "lm.arpa").exists():
        os.link(work / "own.arpa", folder / "lm.arpa") if (work / "own.arpa").exists() else None
        (folder / "sp.model").write_bytes((work / "sp.model").read_bytes())
    docs = []
    for doc in docs_iter():
        docs.append(doc)
        if len(docs) >= n_docs:
            break
    model = PerplexityModel(folder, with_cutoffs=False)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sp.model"))
    lm: kenlm.Model = model.lm

    def bare() -> None:
        for doc in docs:
            for line in doc.split("\n"):
                if line:
                    lm.score(" ".join(sp.encode(line, out_type=str)))

    def ours() -> None:
        for i in range(0, len(docs), 1000):
            model.perplexity(docs[i:i + 1000])

    times = {"bare": [], "scorer": []}
    for _ in range(3):  # alternate, best of three
        for name, fn in (("bare", bare), ("scorer", ours)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    return {"documents": len(docs), "bare_docs_per_s": len(docs) / best["bare"],
            "scorer_docs_per_s": len(docs) / best["scorer"], "scorer_over_bare_time": best["scorer"] / best["bare"]}


def corpus_check(work: Path) -> dict:
    """corpus_en: train on bbc_news + reuters21578 + wikitext2 (1/8 of the news held out by id
    hash); median perplexity of held-out news vs nltk_misc rows vs the held-out news with
    words shuffled."""
    import random

    import xxhash

    from operators.lm.scoring import PerplexityModel
    from operators.lm.training import LMConfig, train_language_model

    train, held, chat = [], [], []
    for path in sorted(glob.glob(str(CORPUS / "part-*.parquet"))):
        for r in pq.read_table(path, columns=["id", "text", "source"]).to_pylist():
            news = r["source"] in ("bbc_news", "reuters21578")
            if news and xxhash.xxh64_intdigest(r["id"].encode()) % 8 == 0:
                held.append(r["text"])
            elif news or r["source"] == "wikitext2":
                train.append(r["text"])
            elif r["source"] == "nltk_misc":
                chat.append(r["text"])
    report = train_language_model(train, work / "corpus_check", LMConfig(), cutoff_texts=held + chat)
    model = PerplexityModel(work / "corpus_check")
    rng = random.Random(0)

    def shuffled(t: str) -> str:
        words = t.split()
        rng.shuffle(words)
        return " ".join(words)

    med = {name: float(np.nanmedian(model.perplexity(texts))) for name, texts in
           (("held_out_news", held), ("nltk_misc", chat), ("shuffled_news", [shuffled(t) for t in held]))}
    return {"train_documents": report.documents, "train_tokens": report.tokens, "ngrams": report.ngrams,
            "held_out_news": len(held), "nltk_misc": len(chat), "median_perplexity": med,
            "train_seconds": report.seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=10_000_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--score-docs", type=int, default=5_000)
    ap.add_argument("--work", default="/tmp/bench_lm")
    ap.add_argument("--child-own", default=None)
    ap.add_argument("--corpus-check", action="store_true", help="run the corpus_en news/chat/shuffled check only")
    args = ap.parse_args()
    if args.corpus_check:
        print(json.dumps(corpus_check(Path(args.work)), indent=1))
        return
    if args.child_own:
        run_own(Path(args.child_own), args.order)
        return
    work = Path(args.work) / f"t{args.tokens}"
    t = time.perf_counter()
    meta = prepare(work, args.tokens)
    print(f"prepared {meta['tokens']:,} tokens in {meta['sentences']:,} lines ({time.perf_counter() - t:.0f} s; "
          f"SentencePiece on {meta['sp_sample_lines']:,} lines: {meta['sp_seconds']:.0f} s)")
    train = bench_training(work, args.order)
    own = train["own"]
    print(f"own estimator, order {args.order}: {own['seconds']:.1f} s wall ({train['tokens'] / own['seconds']:,.0f} "
          f"tokens/s), peak RSS {own['peak_rss_gb']:.2f} GB, n-grams {own.get('ngrams')}")
    if "lmplz" in train:
        lm = train["lmplz"]
        print(f"lmplz, order {args.order}: {lm['seconds']:.1f} s ({train['tokens'] / lm['seconds']:,.0f} tokens/s), "
              f"peak RSS {lm['peak_rss_gb'] or 0:.2f} GB; own / lmplz time: {own['seconds'] / lm['seconds']:.1f}x")
    score = bench_scoring(work, args.score_docs, args.order)
    print(f"scoring {score['documents']:,} documents: scorer {score['scorer_docs_per_s']:,.0f} docs/s, bare "
          f"SentencePiece + kenlm {score['bare_docs_per_s']:,.0f} docs/s; scorer time / bare time "
          f"{score['scorer_over_bare_time']:.2f}x")
    print(json.dumps({"training": train, "scoring": score}))


if __name__ == "__main__":
    main()
