#!/usr/bin/env bash
# Build the classifier image with podman from the repository root.
#   build-image.sh [TAG] [TARGET]      (defaults: localhost/classifier:dev runtime)
# MODEL_VERSION picks the model version the image serves (default 1; 1+int8: its int8 execution).
# BASE_IMAGE picks the base (default: the locally built Debian image). Where the host keeps
# local wheel folders (WHEEL_DIRS, colon-separated), they are mounted read-only so pip finds
# large wheels such as torch there instead of downloading them; the host CA bundle is passed
# as a build secret, never stored in a layer.
set -euo pipefail
tag=${1:-localhost/classifier:dev}
target=${2:-runtime}
base=${BASE_IMAGE:-localhost/debian-python:bookworm}
root=$(git rev-parse --show-toplevel)
# The base by digest, as the Dockerfile's default names its own: the build uses exactly the image
# inspected here, even if the tag is rebuilt meanwhile.
if [[ "${base}" != *@sha256:* ]]; then
  digest=$(podman image inspect --format '{{.Digest}}' "${base}")
  name=${base%:*}
  [[ "${name}" == */* && "${base##*/}" == *:* ]] || name=${base}
  base="${name}@${digest}"
fi
echo "base image: ${base}"

args=(--format docker --layers --target "${target}" --tag "${tag}"
  --build-arg "BASE_IMAGE=${base}"
  --build-arg "MODEL_VERSION=${MODEL_VERSION:-1}"
  --build-arg "REVISION=$(git -C "${root}" rev-parse HEAD 2>/dev/null || echo unknown)"
  --file "${root}/services/classifier/Dockerfile")
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  args+=(--secret "id=pipca,src=/etc/ssl/certs/ca-certificates.crt")
fi
find_links=()
IFS=: read -r -a dirs <<< "${WHEEL_DIRS:-}"
for index in "${!dirs[@]}"; do
  [[ -d "${dirs[index]}" ]] || continue
  args+=(--volume "${dirs[index]}:/wheels/${index}:ro")
  find_links+=("/wheels/${index}")
done
if (( ${#find_links[@]} )); then
  args+=(--build-arg "PIP_FIND_LINKS=${find_links[*]}")
fi
podman build "${args[@]}" "${root}"
size=$(podman image inspect --format '{{.Size}}' "${tag}")
echo "built ${tag} (${target}): $((size / 1000000)) MB"
