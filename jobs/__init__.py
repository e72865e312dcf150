"""Batch-job entrypoints, imported as `tritter.jobs` (see setup.py).

Each module is the thin `main` one pipeline step runs inside its container: parse a few
arguments, call the stage function in `tritter`, exit non-zero with a one-line error on failure.
"""
