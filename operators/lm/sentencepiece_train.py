"""Training a SentencePiece model on normalized text, offline, deterministically."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def train_sentencepiece(sentences: Iterable[str], model_prefix: Path, vocab_size: int = 32000,
                        model_type: str = "unigram", character_coverage: float = 0.9999, seed: int = 0,
                        threads: int = 1) -> Path:
    """Train on the given sentences (all of them; sample before calling) and return the
    `.model` path. Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>` (the n-gram model's numbering).
    `hard_vocab_limit=False` lets a small corpus get a smaller vocabulary instead of failing.
    One thread, so that the same text gives the same model."""
    import io

    import sentencepiece as spm

    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise ValueError("no text to train SentencePiece on")
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(seed)
    # into memory: a model_prefix would be stored in the model, so the same text trained in
    # two folders would give two different files
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        hard_vocab_limit=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=threads,
        minloglevel=2,
    )
    path = model_prefix.with_suffix(".model")
    path.write_bytes(buffer.getvalue())
    return path
