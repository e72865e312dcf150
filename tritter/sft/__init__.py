"""Midtraining and supervised fine-tuning (`tritter sft --phase mid|sft`).

`config` (the options and each phase's defaults), `data` (conversations → token shards with
loss spans) and `stage` (render the data, then train with the pretraining trainer from
`--init`).
"""
