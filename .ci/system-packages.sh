#!/usr/bin/env bash
# Install the Debian packages the tests and the image build drive, if any is missing: a C
# compiler and Python's headers (the service's resize extension), the shell linter, Prometheus
# (promtool and the drill's server), Alertmanager (amtool and the alert delivery test), Chromium
# (the demo page test) and the podman stack (the image). Idempotent and quick when all are
# present; needs root.
set -euo pipefail
packages=(gcc libc6-dev python3-dev shellcheck prometheus prometheus-alertmanager chromium chromium-driver
  podman buildah runc crun fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns
  containernetworking-plugins iptables conmon golang-github-containers-common)
if dpkg -s "${packages[@]}" > /dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages; run as root: apt-get install ${packages[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
