"""Preference optimisation: `tritter dpo` (DPO, cDPO, IPO) on chosen/rejected pairs.

Modules: config (DpoConfig and its defaults), pairs (the row format, reading it), data
(rendering, the reference pass, the data folder), loss (the preference losses), objective (the
trainer's `Preference` objective), stage (fingerprint, is_done, run).
"""
