"""Tokenizer training benchmark and per-language measures.

1. Speed: the `train_tokenizer` step (a recipe run's global stage: sample selection, streaming,
   training, held-out evaluation, files) against plain `tokenizers` `train_from_iterator` on the
   same documents (the step's training set: every document but the held-out ones) with the same
   settings, run alternately in the same process. Target: step <= 1.1x. For bpe the two trained
   models must be identical (same text, same order).
2. Languages: bytes per token and tokens per word (fertility) per UDHR language for the 32k BPE
   trained on corpus_en in part 1, and for a 32k BPE trained on 90% of the UDHR paragraphs
   (measured on the other 10%).

    .venv/bin/python bench/bench_tokenizer.py --shards 4 --repeat 2 [--out FILE.md]  (last results: bench/RESULTS.md)

The machine is shared (2 cores, other jobs running): absolute seconds are noisy; compare the
columns measured side by side.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from operators.base import SHARD_BITS  # noqa: E402
from operators.tokenizer.hf import hf_decoder, hf_normalizer, hf_pre_tokenizer  # noqa: E402
from operators.tokenizer.sample import select_sample  # noqa: E402
from operators.tokenizer.train import TrainTokenizer, train_on_texts  # noqa: E402
from pipeline.recipe import validate_recipe  # noqa: E402
from pipeline.runner import run_recipe  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
# a language whose whitespace-separated "words" average more than this many bytes is written
# without spaces between words (Chinese, Japanese, Thai, Amharic with ፡ ...): tokens per word
# means little there
UNSPACED_BYTES_PER_WORD = 25
SHOWN = ["eng", "fra", "deu", "spa", "por", "ita", "nld", "pol", "ces", "fin", "hun", "tur", "rus", "ukr", "ell",
         "heb", "arb", "pes", "hin", "ben", "tam", "tel", "kor", "jpn", "cmn", "tha", "vie", "ind", "swh", "yor",
         "hau", "amh", "kat", "hye", "eus", "isl"]


def step_params(algorithm: str, vocab: int) -> dict:
    return {"algorithm": algorithm, "vocab_size": vocab, "artifact": "tok", "held_out_documents": 1000, "seed": 0}


def run_step(files: list[Path], params: dict, out: Path) -> tuple[float, float, dict[str, float], Path]:
    recipe = validate_recipe({
        "input": {"path": [str(f) for f in files]},
        "output": {"path": str(out), "report": False},
        "executor": {"type": "local", "workers": 1},
        "steps": [{"train_tokenizer": params}],
    })
    result = run_recipe(recipe, fresh=True, progress=False)
    step = result.stats["steps"][0]
    phases = {k.split(":")[1].removesuffix("_seconds"): v for k, v in step["metrics"].items() if k.endswith("_seconds")}
    return step["stage_seconds"], result.stats["wall_seconds"], phases, out / "artifacts" / params["artifact"]


def training_masks(files: list[Path], params: dict) -> list[np.ndarray]:
    """Per file, which rows the step trains on (its seeded held-out set removed), computed the
    way the step does from `_doc_key` = file index << 40 | row."""
    from operators.base import DOC_KEY, ShardInput

    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]

    def shard(i: int) -> ShardInput:
        keys = (np.int64(i) << np.int64(SHARD_BITS)) + np.arange(sizes[i], dtype=np.int64)
        return ShardInput(i, files[i].stem, lambda cols: iter([pa.table({DOC_KEY: keys})]))

    op = TrainTokenizer(**params)
    sample = select_sample([shard(i) for i in range(len(files))], op.seed, op.held_out_documents,
                           op.max_documents, op.max_bytes)
    masks = []
    for i in range(len(files)):
        keys = (np.int64(i) << np.int64(SHARD_BITS)) + np.arange(sizes[i], dtype=np.int64)
        masks.append(sample.is_train(keys))
    return masks


def run_baseline(files: list[Path], masks: list[np.ndarray], params: dict):
    """Plain tokenizers: the same components and trainer settings, fed straight from Parquet."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    op = TrainTokenizer(**params)
    if op.algorithm == "bpe":
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=op.vocab_size, min_frequency=op.min_frequency, show_progress=False,
                                      special_tokens=op.special_tokens, max_token_length=op.max_token_length,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.WordPiece(unk_token=op.unk_token))
        trainer = trainers.WordPieceTrainer(vocab_size=op.vocab_size, min_frequency=op.min_frequency,
                                            show_progress=False, special_tokens=op.special_tokens)
    normalizer = hf_normalizer(op.normalization, bool(op.lowercase), bool(op.strip_accents),
                               bert=op.pre_tokenizer == "bert")
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = hf_pre_tokenizer(op.pre_tokenizer, op.split_digits)
    tok.decoder = hf_decoder("wordpiece" if op.algorithm == "wordpiece" else op.pre_tokenizer, False)

    def texts():
        for f, mask in zip(files, masks):
            row = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1000, columns=["text"]):
                m = mask[row:row + batch.num_rows]
                row += batch.num_rows
                yield batch.column(0).filter(pa.array(m)).to_pylist()

    started, cpu = time.perf_counter(), time.process_time()
    tok.train_from_iterator(texts(), trainer)
    return time.perf_counter() - started, time.process_time() - cpu, tok


def bench_speed(args: argparse.Namespace, work: Path) -> tuple[list[str], Path]:
    files = sorted((DATA / "corpus_en").glob("part-*.parquet"))[: args.shards]
    params = step_params(args.algorithm, args.vocab_size)
    masks = training_masks(files, params)
    docs = sum(int(m.sum()) for m in masks)
    nbytes = sum(int(pc.sum(pc.binary_length(pq.read_table(f, columns=["text"]).column(0).filter(pa.array(m)))).as_py())
                 for f, m in zip(files, masks))
    rows = []
    folder = None
    same_model = None
    for r in range(args.repeat):
        if r % 2 == 0:  # alternate which one runs first, so that neither always gets the warmer machine
            base_s, base_cpu, base_tok = run_baseline(files, masks, params)
            stage_s, wall_s, phases, folder = run_step(files, params, work / f"run{r}")
        else:
            stage_s, wall_s, phases, folder = run_step(files, params, work / f"run{r}")
            base_s, base_cpu, base_tok = run_baseline(files, masks, params)
        if args.algorithm == "bpe":
            ours = json.loads((folder / "tokenizer.json").read_text())["model"]
            theirs = json.loads(base_tok.to_str())["model"]
            same_model = ours["vocab"] == theirs["vocab"] and ours["merges"] == theirs["merges"]
        rows.append((base_s, stage_s, wall_s, phases, base_cpu))
        print(f"  run {r}: train_from_iterator {base_s:.1f} s (cpu {base_cpu:.1f}), step stage {stage_s:.1f} s "
              f"(x{stage_s / base_s:.3f}; {phases}), whole recipe run {wall_s:.1f} s", file=sys.stderr)
    summary = json.loads((folder / "summary.json").read_text())
    ratios = [s / b for b, s, _, _, _ in rows]
    cpu_ratios = [p["cpu"] / c for _, _, _, p, c in rows]
    # the step's own work beyond training (sample pass, evaluation, files), against its training
    # phase measured inside the same run: much less exposed to the machine's noise
    overheads = [(s - p["train"]) / p["train"] for _, s, _, p, _ in rows]
    lines = [
        f"### Speed: `train_tokenizer` step vs `tokenizers` `train_from_iterator` ({args.algorithm}, "
        f"vocab {args.vocab_size:,})",
        "",
        f"Input: corpus_en parts 0-{args.shards - 1}; training set = {docs:,} documents, {nbytes / 1e6:.1f} MB "
        f"(1,000 held out, seed 0), the same documents in the same order for both.",
        "",
        "| run (first) | train_from_iterator (s) | step: global stage (s) | ratio | step phases: sample / train / "
        "evaluate+write (s) | CPU s: baseline / step (ratio) | whole recipe run (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {i} ({'baseline' if i % 2 == 0 else 'step'}) | {b:.1f} | {s:.1f} | {s / b:.3f} | "
              f"{p['sample']:.2f} / {p['train']:.1f} / {p['evaluate']:.2f} | {c:.1f} / {p['cpu']:.1f} "
              f"({p['cpu'] / c:.3f}) | {w:.1f} |"
              for i, (b, s, w, p, c) in enumerate(rows)]
    lines += ["", f"Wall-time ratio: median {statistics.median(ratios):.3f}, best {min(ratios):.3f} (target <= 1.1); "
                  f"CPU-time ratio (less exposed to other jobs): median {statistics.median(cpu_ratios):.3f}. "
                  f"The step's work beyond training (sample pass, evaluation, files): median "
                  f"{100 * statistics.median(overheads):.1f}% of its training phase."]
    if same_model is not None:
        lines.append(f"Trained models identical (vocab and merges): {'yes' if same_model else 'NO'}.")
    lines.append("The recipe run also reads the input and writes it once as the stage's input shards.")
    held = summary["held_out"]
    lines += ["", f"corpus_en held-out (1,000 documents): {held['bytes_per_token']} bytes/token, "
                  f"{held['tokens_per_word']} tokens/word, round trip {held['round_trip_share']}."]
    lines += count_speed(folder / "tokenizer.json", sorted((DATA / "corpus_en").glob("part-*.parquet"))[args.shards])
    return lines, folder / "tokenizer.json"


def count_speed(tokenizer: Path, part: Path, n_docs: int = 5000) -> list[str]:
    """token_count over documents the tokenizer was not trained on, in 1,000-row batches."""
    from operators.tokenizer.count import TokenCount

    table = pq.read_table(part, columns=["text"]).slice(0, n_docs)
    nbytes = pc.sum(pc.binary_length(table.column("text"))).as_py()
    op = TokenCount(tokenizer=str(tokenizer))
    op.ensure_setup()
    started, cpu = time.perf_counter(), time.process_time()
    for batch in table.to_batches(max_chunksize=1000):
        op.process(pa.Table.from_batches([batch]))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    tokens = op.pop_metrics()["tokens"]
    return ["", f"token_count with this tokenizer ({part.name}, first {n_docs:,} documents, {nbytes / 1e6:.1f} MB, "
                f"one process): {wall:.1f} s wall, {cpu:.1f} s CPU; {n_docs / wall:,.0f} documents/s, "
                f"{nbytes / 1e6 / wall:.2f} MB/s, {tokens / wall:,.0f} tokens/s (tokenizers' encode_batch_fast "
                "does the work)."]


def read_udhr() -> dict[str, list[tuple[str, str]]]:
    by_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with gzip.open(DATA / "langid" / "udhr2_paragraphs.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            o = json.loads(line)
            by_lang[o["lang"]].append((str(o["id"]), o["text"]))
    return by_lang


def measure(tok, texts: list[str]) -> tuple[float, float, int, int]:
    arr = pa.array(texts, pa.string())
    nbytes = pc.sum(pc.binary_length(arr)).as_py()
    words = pc.sum(pc.list_value_length(pc.utf8_split_whitespace(arr))).as_py()
    tokens = sum(len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False))
    return nbytes / tokens, tokens / max(words, 1), nbytes, words


def bench_languages(en_tokenizer: Path, vocab: int, work: Path) -> list[str]:
    from tokenizers import Tokenizer

    from operators.tokenizer.sample import seeded_hash

    udhr = read_udhr()
    train, held = [], defaultdict(list)
    for lang, paras in udhr.items():
        for pid, text in paras:
            h = int(seeded_hash(np.array([hash_id(pid)], dtype=np.int64), 0)[0])
            (held[lang].append(text) if h % 10 == 0 else train.append(text))
    started = time.perf_counter()
    train_on_texts(train, work / "udhr", algorithm="bpe", vocab_size=vocab, held_out_documents=0)
    udhr_seconds = time.perf_counter() - started
    en = Tokenizer.from_file(str(en_tokenizer))
    multi = Tokenizer.from_file(str(work / "udhr" / "tokenizer.json"))
    rows = {}
    unspaced: set[str] = set()
    for lang, paras in udhr.items():
        texts = [t for _, t in paras]
        e_bpt, e_tpw, nbytes, words = measure(en, texts)
        m = measure(multi, held[lang]) if held[lang] else (None, None, 0, 0)
        rows[lang] = (len(texts), nbytes, e_bpt, e_tpw, m[0], m[1])
        if nbytes / max(words, 1) > UNSPACED_BYTES_PER_WORD:
            unspaced.add(lang)
    spaced = [lang for lang in rows if lang not in unspaced]
    lines = [
        "", f"### Languages: 32k byte-level BPE, bytes per token and tokens per word on UDHR ({len(rows)} languages)",
        "",
        f"`en-BPE`: the tokenizer above (trained on English corpus_en), on all of each language's paragraphs. "
        f"`udhr-BPE`: a 32k BPE trained on 90% of the UDHR paragraphs ({len(train):,}, {udhr_seconds:.0f} s), "
        f"measured on the other 10% (`-` when a language has no held-out paragraph). "
        f"Tokens per word is not meaningful for text without spaces between words (marked *: more "
        f"than {UNSPACED_BYTES_PER_WORD} bytes per whitespace-separated word; {len(unspaced)} languages).",
        "",
        "| language | paragraphs | bytes | en-BPE bytes/token | en-BPE tokens/word | udhr-BPE bytes/token | udhr-BPE tokens/word |",
        "|---|---|---|---|---|---|---|",
    ]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for lang in [x for x in SHOWN if x in rows]:
        n, b, e1, e2, m1, m2 = rows[lang]
        star = "*" if lang in unspaced else ""
        lines.append(f"| {lang}{star} | {n} | {b:,} | {f(e1)} | {f(e2)} | {f(m1)} | {f(m2)} |")
    e_bpt = [rows[x][2] for x in rows]
    e_tpw = [rows[x][3] for x in spaced]
    m_bpt = [rows[x][4] for x in rows if rows[x][4] is not None]
    m_tpw = [rows[x][5] for x in spaced if rows[x][5] is not None]
    worst = sorted(spaced, key=lambda x: -rows[x][3])[:5]
    lines += [
        "",
        f"All languages: en-BPE median {statistics.median(e_bpt):.2f} bytes/token, median {statistics.median(e_tpw):.2f} "
        f"tokens/word (spaced scripts); udhr-BPE median {statistics.median(m_bpt):.2f} bytes/token, median "
        f"{statistics.median(m_tpw):.2f} tokens/word.",
        "Highest en-BPE fertility: " + ", ".join(f"{x} {rows[x][3]:.2f}" for x in worst) + ".",
    ]
    return lines


def hash_id(pid: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(pid.encode()) & ((1 << 62) - 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=4, help="corpus_en parts to train on (10k documents, 13 MB each)")
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--algorithm", choices=["bpe", "wordpiece"], default="bpe")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-languages", action="store_true")
    ap.add_argument("--out", help="write the Markdown results here")
    args = ap.parse_args()
    if not (DATA / "corpus_en").exists():
        print(f"shared data not found: {DATA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-tokenizer-") as tmp:
        work = Path(tmp)
        lines, en_tok = bench_speed(args, work)
        if not args.skip_languages:
            lines += bench_languages(en_tok, args.vocab_size, work)
    cmd = "PYTHONPATH=. .venv/bin/python bench/bench_tokenizer.py " + " ".join(sys.argv[1:])
    header = [f"## Tokenizer training ({date.today().isoformat()})", "", f"Command: `{cmd}`", "",
              "2-core VM shared with other jobs: seconds are noisy; the ratio compares runs made side by side.", ""]
    text = "\n".join(header + lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
