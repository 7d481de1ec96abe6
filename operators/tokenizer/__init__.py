"""Tokenizer training (`train_tokenizer`, a global step) and token counting (`token_count`)."""
