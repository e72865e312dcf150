"""What a cluster run is made of: the pipeline's parameters (`params`), the stage images
(`images`), the training PyTorchJob (`pytorchjob`) and how it is started and followed
(`launch`), and the Grafana dashboards (`dashboards`).

The step bodies that use them are in `tritter.jobs`; the pipeline, its compilation and upload,
and the generated Helm chart files are in `tritter.pipelines`.
"""
