"""Evaluation: held-out perplexity and bits per byte, and HumanEval/MBPP code generation scored
by running every completion in a sandbox (`tritter evaluate`).

Modules: `config` (the stage config), `sandbox` + `sandbox_init` (isolated program execution),
`tasks` (prompts and test programs per benchmark), `execution` (checking completions),
`passk` (the unbiased estimator), `known_answers` (self-checks of the harness).
"""
