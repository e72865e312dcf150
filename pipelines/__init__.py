"""Kubeflow Pipelines, imported as `tritter.pipelines` (see setup.py).

`components` (one lightweight component per step, each a one-line call into `tritter.jobs`),
`tritter_pretrain` (the pipeline) and its compiled `tritter_pretrain.yaml`, `package` (compile,
adapt to a cluster, upload) and `chart` (the generated files of the Helm chart that uploads it).
"""
