"""Tritter: curate code, train a tokenizer, pack shards, pretrain a ternary model, evaluate."""

__version__ = "0.1.0"
