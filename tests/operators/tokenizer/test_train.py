"""train_tokenizer: every algorithm trained on small generated text; round trip, special tokens,
vocabulary size, both loaders, determinism, summary, parameter checks."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from tokenizers import Tokenizer

from operators.tokenizer.train import TrainTokenizer, train_on_texts

ALGORITHMS = ["bpe", "wordpiece", "unigram", "sentencepiece_bpe", "sentencepiece_unigram"]
VOCAB = 800
# SentencePiece-trained models drop characters rarer than character_coverage; byte fallback
# keeps them representable, so that decoding gives the text back.
EXTRA = {"bpe": {}, "wordpiece": {}, "unigram": {"byte_fallback": True},
         "sentencepiece_bpe": {"byte_fallback": True}, "sentencepiece_unigram": {"byte_fallback": True}}


def make_corpus(n_docs: int = 400, seed: int = 0) -> list[str]:
    """Pseudo-language documents (Zipf-distributed words, punctuation, numbers, accented words,
    paragraphs): about 160 KB, enough for an 800-token vocabulary."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ren", "ta", "sel", "or", "an", "vu", "del", "pri", "xo", "ne", "qua",
                 "bri", "to", "ste", "gra", "fin", "ju", "po", "wil", "zer", "the", "ing", "ou"]
    words = sorted({"".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(900)})
    words += ["café", "naïve", "über", "façade", "Ångström", "déjà"]
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    docs = []
    for _ in range(n_docs):
        paragraphs = []
        for _ in range(rng.integers(1, 4)):
            sentences = []
            for _ in range(rng.integers(2, 6)):
                ws = list(rng.choice(words, size=rng.integers(4, 14), p=weights))
                if rng.random() < 0.2:
                    ws.insert(int(rng.integers(0, len(ws))), str(rng.integers(0, 3000)))
                sentences.append(" ".join(ws).capitalize() + str(rng.choice([".", ".", ",", "?", "!"])))
            paragraphs.append(" ".join(sentences))
        docs.append("\n\n".join(paragraphs))
    return docs


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> dict[str, tuple[Path, Path, dict]]:
    """Each algorithm trained twice on the same text with the same seed."""
    out = {}
    for algo in ALGORITHMS:
        base = tmp_path_factory.mktemp(algo)
        params = {"algorithm": algo, "vocab_size": VOCAB, "held_out_documents": 50, "seed": 3, **EXTRA[algo]}
        summary = train_on_texts(corpus, base / "a", **params)
        train_on_texts(corpus, base / "b", **params)
        out[algo] = (base / "a", base / "b", summary)
    return out


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_same_input_and_seed_give_identical_files(trained, algo):
    a, b, summary = trained[algo]
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) == summary["files"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{algo}: {name} differs between runs"


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_vocab_size_and_special_tokens(trained, algo):
    folder, _, summary = trained[algo]
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB == summary["vocab_size"]
    specials = TrainTokenizer(algorithm=algo).special_tokens
    assert [tok.token_to_id(t) for t in specials] == list(range(len(specials)))
    assert summary["special_tokens"] == {t: i for i, t in enumerate(specials)}
    # a special token in the text is one token, never split
    special = specials[-1]
    ids = tok.encode(f"ka lo {special} mi", add_special_tokens=False).ids
    assert ids.count(tok.token_to_id(special)) == 1
    config = json.loads((folder / "tokenizer_config.json").read_text())
    if algo == "wordpiece":
        assert (config["unk_token"], config["cls_token"], config["sep_token"]) == ("[UNK]", "[CLS]", "[SEP]")
    elif algo == "bpe":
        assert config["eos_token"] == "<|endoftext|>" and "unk_token" not in config
    else:
        assert (config["unk_token"], config["bos_token"], config["eos_token"]) == ("<unk>", "<s>", "</s>")
    if algo.startswith("sentencepiece_"):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        assert sp.get_piece_size() == VOCAB
        assert (sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2)


ROUND_TRIP = ["Kalo mi renta, sel or an? Vu del pri!", "Quabri tosté gra 1984 café über naïve.",
              "Unseen ☃ and 東京 and emoji 🙂 here.", "Two\n\nparagraphs with\nlines."]


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_round_trip_decode(trained, algo):
    folder, _, summary = trained[algo]
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in ROUND_TRIP:
        ids = tok.encode(text, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        if algo == "wordpiece":
            # BERT uncased: lowercased, accents stripped, spaces around punctuation restored by cleanup
            plain = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
            if "☃" in text:
                assert tok.token_to_id("[UNK]") in ids  # characters never seen in training
            else:
                assert decoded == " ".join(plain.split())
        else:
            assert decoded == text, algo
    held = summary["held_out"]
    assert held["documents"] == 50
    assert held["round_trip_share"] == (0.0 if algo == "wordpiece" else 1.0)


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_loads_with_transformers(trained, algo, corpus):
    from transformers import PreTrainedTokenizerFast

    folder, _, _ = trained[algo]
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    for text in corpus[:10] + ROUND_TRIP:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert fast.encode(text, add_special_tokens=False) == ids
        assert fast.decode(ids) == tok.decode(ids, skip_special_tokens=False)
    loaded = PreTrainedTokenizerFast.from_pretrained(str(folder))
    unk = TrainTokenizer(algorithm=algo).unk_token
    assert loaded.unk_token == unk
    if algo == "wordpiece":  # the BERT template adds [CLS] ... [SEP]
        ids = loaded.encode("kalo mi")
        assert ids[0] == tok.token_to_id("[CLS]") and ids[-1] == tok.token_to_id("[SEP]")


@pytest.mark.parametrize("algo", ["sentencepiece_bpe", "sentencepiece_unigram"])
def test_sentencepiece_json_encodes_like_the_model(trained, algo, corpus):
    import sentencepiece as spm

    folder, _, summary = trained[algo]
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts = corpus[-50:] + ROUND_TRIP + ["  leading and   inner spaces  "]
    same = sum(sp.encode(t) == tok.encode(t, add_special_tokens=False).ids for t in texts)
    assert same >= len(texts) - 1  # Viterbi ties between equal-score segmentations may differ
    assert summary["held_out"]["tokenizer_json_agreement"] >= 0.98


def test_summary_files(trained):
    folder, _, summary = trained["bpe"]
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk == summary
    held = summary["held_out"]
    assert held["bytes_per_token"] == round(held["bytes"] / held["tokens"], 4) and held["bytes_per_token"] > 2
    assert held["tokens_per_word"] == round(held["tokens"] / held["words"], 4) and held["tokens_per_word"] >= 1
    assert held["unknown_share"] == 0.0 and held["byte_fallback_share"] == 0.0
    assert summary["training"]["documents"] == 350  # 400 minus 50 held out
    md = (folder / "summary.md").read_text()
    assert "bytes per token (held out)" in md and str(held["bytes_per_token"]) in md


def test_unknown_and_byte_fallback_shares_count_real_tokens(trained, tmp_path):
    # byte-fallback models: rare characters became <0xXX> tokens, and the share says how many
    held = trained["sentencepiece_unigram"][2]["held_out"]
    assert 0 < held["byte_fallback_share"] < 0.05 and held["unknown_share"] == 0.0
    # without byte fallback the same characters are unknown
    summary = train_on_texts(make_corpus(), tmp_path / "nofb", algorithm="sentencepiece_unigram", vocab_size=VOCAB,
                             held_out_documents=50, seed=3)
    assert summary["held_out"]["unknown_share"] > 0 and summary["held_out"]["byte_fallback_share"] == 0.0


def test_bpe_metaspace_with_byte_fallback(corpus, tmp_path):
    summary = train_on_texts(corpus, tmp_path / "t", algorithm="bpe", pre_tokenizer="metaspace", byte_fallback=True,
                             vocab_size=VOCAB, held_out_documents=20)
    tok = Tokenizer.from_file(str(tmp_path / "t" / "tokenizer.json"))
    assert summary["vocab_size"] == VOCAB
    enc = tok.encode("ka ☃ lo", add_special_tokens=False)
    assert enc.tokens.count("<0xE2>") == 1 and "<0x83>" in enc.tokens  # ☃ = E2 98 83
    assert tok.decode(enc.ids) == "ka ☃ lo"


def test_parameters_are_resolved_and_checked():
    wp = TrainTokenizer(algorithm="wordpiece")
    assert (wp.lowercase, wp.strip_accents, wp.pre_tokenizer, wp.unk_token, wp.min_frequency) == (
        True, True, "bert", "[UNK]", 2)
    uni = TrainTokenizer(algorithm="unigram", special_tokens=["<s>", "</s>"])
    assert uni.special_tokens == ["<unk>", "<s>", "</s>"]  # the unknown token is added first
    assert uni.max_bytes == 1_000_000_000 and uni.character_coverage == 0.9995
    bad = [
        ({"algorithm": "wordpiece", "byte_fallback": True}, "byte_fallback"),
        ({"algorithm": "bpe", "byte_fallback": True}, "byte_fallback"),
        ({"algorithm": "sentencepiece_bpe", "normalization": "nfc"}, "SentencePiece"),
        ({"algorithm": "unigram", "min_frequency": 3}, "min_frequency"),
        ({"algorithm": "bpe", "character_coverage": 0.99}, "character_coverage"),
        ({"algorithm": "bpe", "vocab_size": 200}, "vocab_size"),
        ({"algorithm": "wordpiece", "pre_tokenizer": "byte_level"}, "pre_tokenizer"),
        ({"special_tokens": ["<a>", "<a>"]}, "distinct"),
        ({"artifact": "../escape"}, "artifact"),
    ]
    for params, word in bad:
        with pytest.raises(ValidationError, match=word):
            TrainTokenizer(**params)


def test_too_few_documents_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no documents left to train on: 10 documents"):
        train_on_texts(make_corpus(10), tmp_path / "t", held_out_documents=10)


def test_long_documents_are_cut_for_sentencepiece_without_losing_text():
    from operators.tokenizer.spm import chunk_document

    text = " ".join(f"wörd{i}" for i in range(20000))
    chunks = list(chunk_document(text, limit=4096))
    assert "".join(chunks) == text
    assert all(len(c.encode()) <= 4096 for c in chunks) and len(chunks) > 30
    assert all(c.startswith(" ") for c in chunks[1:])  # cut before a space, not inside a word
    assert list(chunk_document("short", limit=4096)) == ["short"]
