"""Kubeflow Pipelines definitions, imported as `tritter.pipelines` (see setup.py)."""
