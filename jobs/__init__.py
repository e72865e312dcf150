"""The pipeline steps' bodies, imported as `tritter.jobs` (see setup.py): one module per stage.

Each Kubeflow component (`tritter.pipelines.components`) is a one-line call into a function
here, which is what the step's container runs: it checks the pipeline settings it was given
(`settings.prepare`: one line naming a bad parameter), builds the stage's typed config from them
and calls the stage's own functions. Steps exchange run-folder URIs, never data. Fan-out steps
return their work units (the run's location plus an index); a stage that is already complete
still yields one quick no-op unit, so a relaunch walks through finished stages without redoing
them (KFP's local runner cannot collect the outputs of a loop that ran no iteration).

`python -m tritter.jobs.pretrain` is also the container entrypoint of a training pod on its own
(the flags of `tritter pretrain`).
"""
