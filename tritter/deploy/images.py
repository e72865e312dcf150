"""Container image names: the one place the pipeline, the Dockerfiles' tests and Helm agree on.

Every stage image is `<registry>/tritter-<stage>:<version>`. The compiled pipeline names the
default registry; `tritter pipeline compile --registry` and the Helm chart's `image.registry`
point it elsewhere.
"""

from __future__ import annotations

from tritter import __version__

DEFAULT_REGISTRY = "ghcr.io/tritter-ai"
STAGES = ("data", "train", "eval")


def image(stage: str, registry: str = DEFAULT_REGISTRY, tag: str = __version__) -> str:
    """`ghcr.io/tritter-ai/tritter-train:0.1.0` for stage `train`."""
    if stage not in STAGES:
        raise ValueError(f"unknown image stage '{stage}' (known: {', '.join(STAGES)})")
    return f"{registry.rstrip('/')}/tritter-{stage}:{tag}"
