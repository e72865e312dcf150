"""Synthetic post-training data.

`identity` draws conversations that teach the assistant who it is from a persona file
(`tritter.chat.persona`) and the question/answer bank in `templates`; `identity_stage` is its
stage (`tritter synth identity`: fingerprint / is_done / run, output `synth/identity/`), with
its options in `config`. Rows are written in the `tritter.chat` conversation format.
"""
