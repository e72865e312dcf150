#!/bin/sh
# Build (and optionally push) the stage images with the tags the pipeline names.
#   images/build.sh [data|train|eval ...]      REGISTRY=ghcr.io/me PUSH=1 images/build.sh
# Run from anywhere; the build context is the repository root.
set -eu
cd "$(dirname "$0")/.."
REGISTRY="${REGISTRY:-ghcr.io/tritter-ai}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' tritter/__init__.py)"
STAGES="${*:-data train eval}"
for name in $STAGES; do
  tag="$REGISTRY/tritter-$name:$VERSION"
  docker build -f "images/$name/Dockerfile" --build-arg "TRITTER_VERSION=$VERSION" -t "$tag" .
  if [ "${PUSH:-0}" = 1 ]; then docker push "$tag"; fi
done
