"""The data curation stage (`tritter curate`).

Source code goes in (a directory, JSONL/Parquet document sets, an `s3://` prefix or a Hugging
Face dataset); deduplicated, license-clean, secret-free, decontaminated, quality-labelled
Parquet shards come out, with a `_manifest.json` that accounts for every input document.

The stage is a chain of steps that all have the same shape (documents in → documents out +
counts), so the same functions run in a local process pool or fan out on Kubeflow:

1. `plan`          enumerate the source into work units (`steps.plan`)
2. `process-shard` ingest → license → filters → secrets → decontamination → security label →
                   quality → exact hash → MinHash signature + band keys (`steps.process_shard`)
3. `dedup-index`   join band keys across shards for one band group; exact and near-duplicate
                   edges (`steps.dedup_index`)
4. `apply-shard`   drop duplicates, write the final `part-XXXXX.parquet` (`steps.apply_shard`)
5. `finalize`      write `_manifest.json` last (`steps.finalize`)

One concern per module: `sources` (ingest), `licenses`, `filters`, `secrets`, `security`,
`quality`, `minhash`, `decontam`, `dedup`, `output`, `steps`, `runner` (local pool + summary).
"""
