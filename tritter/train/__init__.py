"""Ternary pretraining: `tritter pretrain` on one process, local ranks, or a PyTorchJob.

Modules: config (TrainConfig), launch (environment detection, torchrun), preflight (bad-input
checks), trainer (the loop), objective (what the loop optimises: language modelling here, the
seam post-training losses such as DPO plug into), parallelize (activation checkpointing,
compile, FSDP2/DDP), loss (token loss and the loss/byte sums evaluation shares), schedule, optim,
validation, checkpoint (DCP save/restore, `load_model`), store (step folders and commit markers),
metrics (Prometheus, metrics.jsonl), distributed (process group), faults (fault injection for
the resume tests).
"""
