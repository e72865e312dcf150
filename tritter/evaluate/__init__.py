"""Evaluation: held-out perplexity and bits per byte; HumanEval, MBPP, MultiPL-E Rust and
DS-1000 code generation scored by running every program in a sandbox; GSM8K; ARC and MMLU
multiple choice; their CORE average (`tritter evaluate`).

Modules: `config` (the stage config), `sandbox` + `sandbox_init` (isolated program execution),
`tasks` (prompts and test programs per benchmark), `multipl_e` + `rust` (Rust programs compiled
and run in the sandbox), `ds1000` (DS-1000's harness and library checks), `execution`
(checking completions), `passk` (the unbiased estimator), `known_answers` (self-checks of the
harness), `gsm8k`, `multiple_choice` (log-likelihood and letter scoring), `core` (the centred
average).
"""
