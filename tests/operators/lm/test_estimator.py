"""The n-gram estimator: hand-computed modified Kneser-Ney on a tiny corpus, KenLM's lmplz as
the oracle on real text, streaming (chunked) counting, and the ARPA that KenLM loads."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from operators.lm.arpa import read_arpa, write_arpa
from operators.lm.kenlm_tools import find_tool
from operators.lm.kneser_ney import EstimationError, estimate
from operators.lm.normalize import document_lines, normalize_lines
from operators.lm.spool import TokenSpool, WordVocab, spool_word_lines
from tests.conftest import shared_path

TINY = ["a b c", "a b a", "b c", "c a b c"]


@pytest.fixture(scope="module")
def lmplz() -> Path:
    path = find_tool("lmplz")
    if path is None:
        msg = "KenLM lmplz is not built here: run .ci/build_lmplz.sh (it caches lmplz in ~/.cache/pipeline-lmplz)"
        if os.environ.get("PIPELINE_REQUIRE_LMPLZ") == "1":
            pytest.fail(msg + " (PIPELINE_REQUIRE_LMPLZ=1)")
        pytest.skip(msg)
    return path


def own_arpa(lines: list[str], order: int, path: Path, chunk_tokens: int = 4_000_000) -> Path:
    spool, vocab = TokenSpool(path.parent / f"spool-{path.stem}", chunk_tokens=chunk_tokens), WordVocab()
    spool_word_lines(lines, spool, vocab)
    write_arpa(estimate(spool, order), vocab.words, path)
    return path


def lmplz_arpa(lmplz: Path, lines: list[str], order: int, path: Path) -> Path:
    text = path.with_suffix(".txt")
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([str(lmplz), "-o", str(order), "--discount_fallback", "--skip_symbols", "-S", "256M",
                    "-T", str(path.parent) + "/", "--text", str(text), "--arpa", str(path)],
                   check=True, stderr=subprocess.DEVNULL)
    return path


def assert_same_model(ours: Path, theirs: Path, tol: float = 1e-5) -> float:
    a, b = read_arpa(ours), read_arpa(theirs)
    assert sorted(a) == sorted(b)
    worst = 0.0
    for n in b:
        assert a[n].keys() == b[n].keys(), f"order {n}: n-grams differ, e.g. {sorted(a[n].keys() ^ b[n].keys())[:5]}"
        for gram, (p, bo) in b[n].items():
            worst = max(worst, abs(a[n][gram][0] - p), abs(a[n][gram][1] - bo))
    assert worst <= tol
    return worst


def corpus_lines(n_docs: int) -> list[str]:
    files = sorted(shared_path("corpus_en").glob("part-*.parquet"))
    docs = pq.read_table(files[1], columns=["text"]).column("text").to_pylist()[:n_docs]
    lines, _ = document_lines(docs)
    return [line for line in normalize_lines(lines) if line.split()]


def test_hand_computed_modified_kneser_ney(tmp_path):
    """Trigram model of 4 sentences, every value worked out by hand below."""
    arpa = read_arpa(own_arpa(TINY, 3, tmp_path / "tiny.arpa"))
    # Unigram adjusted counts = distinct left neighbours: </s> {c, a} 2, a {<s>, b, c} 3,
    # b {a, <s>} 2, c {b, <s>} 2; sum 9. No adjusted count is 1, so t1 = 0 and the unigram
    # discounts fall back to lmplz's (0.5, 1, 1.5). gamma = (D2*3 + D3*1) / 9 = 0.5; the
    # uniform share is 1 / 5 (6 unigrams without <s>).
    assert arpa[1]["a"][0] == pytest.approx(math.log10((3 - 1.5) / 9 + 0.5 / 5), abs=1e-6)
    assert arpa[1]["b"][0] == pytest.approx(math.log10((2 - 1.0) / 9 + 0.1), abs=1e-6)
    assert arpa[1]["<unk>"][0] == pytest.approx(-1.0, abs=1e-6)
    assert arpa[1]["<s>"][0] == 0.0  # p(<s>) = 1, as lmplz
    # Bigram adjusted counts: <s> a 2 (raw: starts with <s>), <s> b 1, <s> c 1, a b 2, a </s> 1,
    # b a 1, b c 2, c a 1, c </s> 1. lmplz's statistics see the last bigram in suffix order
    # (b c) with its raw count 3: t1 = 6, t2 = 2, t3 = 1, so Y = 6/10, D1 = 0.6, D2 = 1.1,
    # D3+ = 3 (t4 = 0).
    p_b, p_c = 1 / 9 + 0.1, 1 / 9 + 0.1
    gamma_b = (1.1 + 0.6) / 3  # context b: b c (2), b a (1)
    p_bc = (2 - 1.1) / 3 + gamma_b * p_c
    gamma_a = (1.1 + 0.6) / 3  # context a: a b (2), a </s> (1)
    assert arpa[2]["a b"][0] == pytest.approx(math.log10((2 - 1.1) / 3 + gamma_a * p_b), abs=1e-6)
    assert arpa[2]["b c"][0] == pytest.approx(math.log10(p_bc), abs=1e-6)
    assert arpa[1]["a"][1] == pytest.approx(math.log10(gamma_a), abs=1e-6)
    # Trigrams (raw counts): <s> a b 2, a b c 2, b c </s> 3, a b a 1, b a </s> 1, <s> b c 1,
    # <s> c a 1, c a b 1: t1 = 5, t2 = 2, t3 = 1, Y = 5/9, D1 = 5/9, D2 = 7/6, D3+ = 3.
    d1, d2 = 5 / 9, 7 / 6
    gamma_ab = (d2 + d1) / 3  # context a b: a b c (2), a b a (1)
    assert arpa[3]["a b c"][0] == pytest.approx(math.log10((2 - d2) / 3 + gamma_ab * p_bc), abs=1e-6)
    assert arpa[2]["a b"][1] == pytest.approx(math.log10(gamma_ab), abs=1e-6)
    # b c is a context only of b c </s> (count 3, D3+ = 3): gamma = 1, backoff 0
    assert arpa[2]["b c"][1] == pytest.approx(0.0, abs=1e-7)
    assert set(arpa[3]) == {"<s> a b", "a b c", "b c </s>", "a b a", "b a </s>", "<s> b c", "<s> c a", "c a b"}


def test_tiny_corpus_matches_lmplz_fallback(tmp_path, lmplz):
    assert_same_model(own_arpa(TINY, 3, tmp_path / "own.arpa"), lmplz_arpa(lmplz, TINY, 3, tmp_path / "ref.arpa"))


def test_real_text_order5_matches_lmplz(tmp_path, lmplz):
    lines = corpus_lines(500)
    assert sum(len(x.split()) for x in lines) > 30_000
    # small chunks: counting spills several runs and merges them
    ours = own_arpa(lines, 5, tmp_path / "own.arpa", chunk_tokens=20_000)
    worst = assert_same_model(ours, lmplz_arpa(lmplz, lines, 5, tmp_path / "ref.arpa"))
    assert worst < 1e-5


def test_chunked_counting_gives_the_same_file(tmp_path):
    lines = [" ".join(f"w{(i * 7 + j * 3) % 23}" for j in range(i % 9 + 1)) for i in range(400)]
    one = own_arpa(lines, 4, tmp_path / "one.arpa").read_bytes()
    many = own_arpa(lines, 4, tmp_path / "many.arpa", chunk_tokens=50).read_bytes()
    assert one == many


def test_kenlm_loads_the_arpa_and_scores_as_lmplz(tmp_path, lmplz):
    import kenlm

    lines = corpus_lines(150)
    ours = kenlm.Model(str(own_arpa(lines, 4, tmp_path / "own.arpa")))
    theirs = kenlm.Model(str(lmplz_arpa(lmplz, lines, 4, tmp_path / "ref.arpa")))
    probes = lines[:50] + ["completely unseen words zzqx", "the the the", ""]
    for s in probes:
        assert ours.score(s) == pytest.approx(theirs.score(s), abs=1e-4)


def test_kenlm_loads_the_arpa_without_lmplz(tmp_path):
    import kenlm

    model = kenlm.Model(str(own_arpa(TINY * 3, 3, tmp_path / "m.arpa")))
    assert model.order == 3
    # log10 p(a | <s>) + p(b | <s> a) + p(</s> | a b) is a finite, negative score
    assert -5 < model.score("a b") < 0
    assert model.score("a b c") > model.score("c c c")


def test_sentences_shorter_than_the_order(tmp_path):
    arpa = read_arpa(own_arpa(["x y", "y x", "x x"], 5, tmp_path / "short.arpa"))
    assert max(arpa) == 4  # <s> x y </s> is the longest n-gram
    assert "<s> x y </s>" in arpa[4]


def test_empty_corpus_is_a_clear_error(tmp_path):
    spool, vocab = TokenSpool(tmp_path / "s"), WordVocab()
    spool_word_lines(["", "   ", "<s> </s>"], spool, vocab)
    with pytest.raises(EstimationError, match="no words"):
        estimate(spool, 3)


def counts_of_counts_by_hand(lines: list[str], order: int) -> list[tuple[int, int, int, int]]:
    """t1..t4 per order, counted here in plain Python, apart from the estimator: raw counts for
    the highest order and for n-grams starting at <s>, else the number of distinct left words
    (Chen & Goodman's modified Kneser-Ney as lmplz applies it; <s> as a unigram is no count)."""
    from collections import Counter, defaultdict

    raw: list[Counter] = [Counter() for _ in range(order)]
    for line in lines:
        words = ["<s>", *line.split(), "</s>"]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                raw[n - 1][tuple(words[i:i + n])] += 1
    out = []
    for n in range(1, order + 1):
        if n == order:
            adjusted = dict(raw[n - 1])
        else:
            left: dict[tuple, set] = defaultdict(set)
            for gram in raw[n]:
                left[gram[1:]].add(gram[0])
            adjusted = {g: (c if g[0] == "<s>" else len(left[g])) for g, c in raw[n - 1].items()}
            adjusted.pop(("<s>",), None)
        freq = Counter(min(a, 5) for a in adjusted.values())
        out.append((freq[1], freq[2], freq[3], freq[4]))
    return out


def test_discounts_from_counts_of_counts_counted_by_hand(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    zipf = np.minimum(rng.zipf(1.3, size=40_000), 300) - 1
    lines = [" ".join(words[i] for i in zipf[k:k + 20]) for k in range(0, len(zipf), 20)]
    spool, vocab = TokenSpool(tmp_path / "s"), WordVocab()
    spool_word_lines(lines, spool, vocab)
    model = estimate(spool, 3)
    expected = counts_of_counts_by_hand(lines, 3)
    for n, (disc, (t1, t2, t3, t4)) in enumerate(zip(model.discounts, expected), start=1):
        assert not disc.fallback
        # lmplz counts the last n-gram of its sort order with its raw count at lower orders: one
        # count of thousands may differ there
        tol = 0 if n == 3 else 1
        assert all(abs(a - b) <= tol for a, b in zip(disc.counts_of_counts, (t1, t2, t3, t4))), n
        y = t1 / (t1 + 2 * t2)  # Chen & Goodman (1998) eq. 26
        assert disc.d[1] == pytest.approx(1 - 2 * y * t2 / t1, rel=1e-3)
        assert disc.d[2] == pytest.approx(2 - 3 * y * t3 / t2, rel=1e-3)
        assert disc.d[3] == pytest.approx(3 - 4 * y * t4 / t3, rel=1e-3)
    assert expected[2][0] > 10_000  # a real corpus: most trigrams seen once
