"""Packing: curated documents → mixture-weighted token shards for pretraining.

`tritter pack` (and the Kubeflow steps in `tritter.jobs.pack`) run plan → pack_shard(i) →
finalize; the shard format is described in `tritter.data.shardfile`.
"""
