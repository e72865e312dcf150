"""Takedown: remove named documents from a finished run's curated/ and tokens/ folders.

`tritter takedown --run RUN --repo NAME | --id ID | --path-glob G` (`run.takedown`):

1. scan (read-only): the curated Parquet shards' id/repo/path columns and every token shard's
   document sidecar (`tritter.data.sidecar`) name the rows and spans to remove; the checkpoints
   that trained on those spans are worked out from their loader positions (`checkpoints`);
2. journal: `takedown/_pending.json` records the files to rewrite with their current sha256,
   and the manifests as they will be once they are (`journal`). It is created only where none
   exists, which makes it the run's lock: of two takedowns planned at once, the second stops
   before touching a file; one planned from files since rewritten stops too;
3. rewrite every affected file whole (temp file, then rename / one S3 put), each one's new
   sha256 recorded in the journal before it is published (`rewrite`);
4. publish the updated curate and pack manifests, then append the log entry, then drop the
   journal.

A killed takedown is finished by running it again: the journal tells a file still holding the
old content (rewrite it) from one already rewritten (skip it) from one changed by someone else
(stop). A takedown that finds nothing changes nothing.
"""
