"""Training-ready tokens: the `mix` step (source weights, epoch cap) and the `tokenize` step
(EOS-terminated token sequences, globally shuffled by a seeded key, written as Megatron-LM
indexed datasets and/or Parquet `input_ids`, with a validation split and a tokens.json manifest)."""
