"""Perplexity filtering with models trained here: CCNet normalization, SentencePiece, this
project's own streaming modified Kneser-Ney n-gram estimator (ARPA that KenLM loads), the
`train_lm` recipe step and the `perplexity_filter`."""
