"""Deployment library: pipeline parameters, step bodies, PyTorchJob construction and launch.

The Kubeflow components in `tritter.pipelines` are one-line wrappers around `tritter.deploy.steps`
so that the code which runs inside a step is ordinary, tested Python rather than text embedded
in the compiled pipeline.
"""
