#!/usr/bin/env bash
# Build a minimal Debian bookworm image with Python 3.11 locally, for machines that cannot
# pull from a registry: debootstrap into a folder, then `podman import`. Cached: does nothing
# when the image already exists.
set -euo pipefail
image=${1:-localhost/debian-python:bookworm}

if podman image exists "${image}"; then
  echo "base image ${image} already present"
  exit 0
fi
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "${rootfs}"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "${rootfs}" "${mirror}"
# Documentation, translations and package caches: nothing a server reads.
rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/* \
  "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/locale/* \
  "${rootfs}"/usr/share/info/*
tar --numeric-owner -C "${rootfs}" -c . | podman import --change 'CMD ["/bin/bash"]' - "${image}"
echo "built ${image}"
