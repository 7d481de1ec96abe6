"""Why datatrove removes documents that this project keeps: datatrove's own value recomputed
with one definition changed at a time, on the documents only datatrove removes.

  python bench/peers/agreement_attribution.py [--parts 2]

Runs datatrove_decisions.py in the datatrove environment (as agreement_datatrove.py does), our
filters here, then itself in the datatrove environment (`--recompute`, where spaCy is) to print:
Gopher top 2/3/4-gram: how many of the only-datatrove documents it would still remove if the top
n-gram had to occur twice, if punctuation tokens were not words, and with both; Gopher quality:
how many would still fail the alphabetic-words rule without punctuation tokens; C4: the
only-datatrove documents with datatrove's defaults (5 sentences, 3 words a line) and with TFDS
c4_utils' numbers (3 sentences, 5 words a line), as the operators here use.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP_NS = {2: 0.20, 3: 0.18, 4: 0.16}  # datatrove's defaults = Gopher Table A1


def top_fraction(words: list[str], n: int, text: str, twice: bool) -> float:
    """datatrove's top n-gram value: len(" ".join(n-gram)) * count / len(text)."""
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    if not grams:
        return 0.0
    gram, count = grams.most_common(1)[0]
    return 0.0 if twice and count < 2 else len(" ".join(gram)) * count / len(text)


def recompute(theirs_path: str, ours_path: str, shards: list[str]) -> None:
    """In the datatrove environment."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter
    from datatrove.utils.text import PUNCTUATION_SET, split_into_words

    texts = pa.concat_tables([pq.read_table(s, columns=["text"]) for s in shards]).column("text").to_pylist()
    theirs, ours = pq.read_table(theirs_path).to_pydict(), pq.read_table(ours_path).to_pydict()

    def no_punct(words: list[str]) -> list[str]:
        return [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]

    def removed(words: list[str], text: str, twice: bool) -> bool:
        return any(top_fraction(words, n, text, twice) > f for n, f in TOP_NS.items())

    rep = [(t, r) for t, r, o in zip(texts, theirs["gopher_repetition"], ours["gopher_repetition"])
           if r.startswith("top_") and not o]
    counts = Counter()
    for text, _ in rep:
        words = split_into_words(text)
        counts["twice"] += removed(words, text, True)
        counts["no punctuation"] += removed(no_punct(words), text, False)
        counts["both"] += removed(no_punct(words), text, True)
    print(f"gopher_repetition: only datatrove, top n-gram rules: {len(rep):,} {dict(Counter(r for _, r in rep))}")
    print(f"  datatrove would still remove: {dict(counts)}")

    alpha = [t for t, r, o in zip(texts, theirs["gopher_quality"], ours["gopher_quality"])
             if r == "gopher_below_alpha_threshold" and not o]
    still = 0
    for text in alpha:
        words = no_punct(split_into_words(text))
        still += bool(words) and sum(any(c.isalpha() for c in w) for w in words) / len(words) < 0.8
    print(f"gopher_quality: only datatrove, alphabetic words: {len(alpha):,}; still failing without "
          f"punctuation tokens: {still:,}")

    tfds = C4QualityFilter(filter_no_terminal_punct=False, min_num_sentences=3, min_words_per_line=5)
    only_default, only_tfds, ours_only_tfds = Counter(), Counter(), Counter()
    for text, r, o in zip(texts, theirs["c4"], ours["c4"]):
        result = tfds.filter(Document(text=text or "", id=""))
        r3 = "" if result is True else result[1]
        only_default[r] += bool(r) and not o
        only_tfds[r3] += bool(r3) and not o
        ours_only_tfds[o] += bool(o) and not r3
    print(f"c4: only datatrove, its defaults: {dict(+only_default)}")
    print(f"c4: only datatrove, min_num_sentences=3 min_words_per_line=5: {dict(+only_tfds)}; "
          f"only ours against that: {dict(+ours_only_tfds)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--recompute", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.recompute:
        recompute(args.recompute[0], args.recompute[1], args.recompute[2:])
        return
    import agreement_datatrove as agreement
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = [str(s) for s in sorted(agreement.CORPUS.glob("*.parquet"))[: args.parts]]
    python = str(agreement.ENVS / "datatrove" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HOME"] = str(agreement.ENVS / "hf_home")
    with tempfile.TemporaryDirectory() as tmp:
        theirs, ours = Path(tmp) / "datatrove.parquet", Path(tmp) / "ours.parquet"
        subprocess.run([python, str(HERE / "datatrove_decisions.py"), str(theirs), *shards], env=env, check=True)
        table = pa.concat_tables([pq.read_table(s, columns=["id", "text"]) for s in shards])
        pq.write_table(pa.table({name: agreement.our_reasons(table, agreement.OURS[name])
                                 for name in ("gopher_repetition", "gopher_quality", "c4")}), ours)
        subprocess.run([python, __file__, "--recompute", str(theirs), str(ours), *shards], env=env, check=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
