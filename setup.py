"""Package layout for setuptools.

The product layout keeps `kernels/`, `jobs/` and `pipelines/` at the top of the repository, but
a top-level import named `kernels` collides with the Hugging Face `kernels` library that
`transformers` probes for. So those folders are mapped into the single `tritter` namespace:
`tritter.kernels` → `kernels/`, `tritter.jobs` → `jobs/`, `tritter.pipelines` → `pipelines/`.
Metadata lives in pyproject.toml; only the package mapping is computed here.
"""

from setuptools import find_packages, setup

MAPPED = {"tritter.kernels": "kernels", "tritter.jobs": "jobs", "tritter.pipelines": "pipelines"}

packages = find_packages(include=["tritter", "tritter.*"])
for name, folder in MAPPED.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]

setup(
    packages=packages,
    package_dir={"tritter": "tritter", **MAPPED},
    package_data={"": ["*.jsonl", "*.json", "*.yaml", "*.md", "*.txt", "*.gz", "*.html"]},
    include_package_data=True,
)
