"""On-policy reinforcement learning with verifiable rewards: `tritter rl` (GRPO-style).

Modules, one concern each: config (RlConfig and its defaults), rewards (the built-in reward
functions), runner (reward calls in worker processes with a wall-clock bound), prompts (the row
format, the checks, the decontamination), data (the kept prompt rows and their manifest),
rollout (sampling completions with the KV cache, running code parts in the sandbox), loss
(group-normalised advantages and the clipped policy-gradient loss), objective (the trainer's
`PolicyGradient` objective), stage (is_done, run), arithmetic (the shipped prompt set
`builtin:arithmetic`, arithmetic.jsonl; ATTRIBUTION.md says its licence).
"""
