"""The data curation stage (`tritter curate`).

Source code goes in (a directory, JSONL/Parquet document sets, an `s3://` prefix or a Hugging
Face dataset); deduplicated, license-clean, secret-free, decontaminated, quality-labelled
Parquet shards come out, with a `_manifest.json` that accounts for every input document.

`stage` is the entry point (`fingerprint`, `is_done`, `run`). The run is five steps with plain
arguments (a config, then only the output folder and a unit index), so the same functions run
in a local process pool or fan out on Kubeflow:

1. `plan.plan`             enumerate the source into work units
2. `process.process_shard` every per-document rule (`rules`), then the batch rules, exact hash,
                           MinHash signature + band keys, for one work unit
3. `index.dedup_steps`     exact groups, LSH candidates, verification (`dedup`, `dedup_verify`)
                           and connected components (`components`), each a fan-out over hash
                           partitions (`index.dedup_index` drives them in a pipeline)
4. `apply.apply_shard`     drop duplicates, write the final `part-XXXXX.parquet`
5. `finalize.finalize`     write `_manifest.json` last

The checks, one concern per module: `sources` (ingest and name-based drops), `licenses`,
`filters`, `secrets`, `security`, `quality`, `decontam`, `minhash`, `dedup`; `rules` orders
them. `output` writes shards, `work` names the intermediate files, `metrics` pushes counters.
"""
