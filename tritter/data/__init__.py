"""Data pieces shared by the tokenizer, packing and the loader.

Reading the curated documents (`curated`), mixtures over curated subsets (`mixture`), how a
curated document becomes training text (`render`), hash-threshold choices about documents
(`selection`) and the token shard file format that packing writes and the loader reads
(`shardfile`). Both sides import these; neither stage imports the other.
"""
