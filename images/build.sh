#!/bin/sh
# Build (and optionally push) the stage images with the tags the pipeline names.
#   images/build.sh [data|train|eval ...]      REGISTRY=ghcr.io/me PUSH=1 images/build.sh
# Run from anywhere; the build context is the repository root. One Dockerfile, one target per
# image; the data image gets the CPU PyTorch build, the GPU images the CUDA one.
set -eu
cd "$(dirname "$0")/.."
REGISTRY="${REGISTRY:-ghcr.io/tritter-ai}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' tritter/__init__.py)"
TARGETS="${*:-data train eval}"
for name in $TARGETS; do
  case "$name" in
    data) variant=cpu ;;
    train|eval) variant=cu128 ;;
    *) echo "images/build.sh: unknown image '$name' (known: data train eval)" >&2; exit 2 ;;
  esac
  tag="$REGISTRY/tritter-$name:$VERSION"
  docker build -f images/Dockerfile --target "$name" --build-arg "TORCH_VARIANT=$variant" \
    --build-arg "TRITTER_VERSION=$VERSION" -t "$tag" .
  if [ "${PUSH:-0}" = 1 ]; then docker push "$tag"; fi
done
