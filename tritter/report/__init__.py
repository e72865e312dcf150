"""The run report (`tritter report --run URI`): one self-contained HTML page, Markdown and JSON
built from a run folder — config, data manifests, tokenizer, training curves, validation bits
per byte, evaluation against the project's targets, throughput and checkpoints.

Modules: `collect` (read the run folder), `targets` (the targets for the model), `plots` (PNG
curves), `build` (the report as data), `render` (Markdown and HTML), `stage` (write it all).
"""
