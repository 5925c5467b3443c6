#!/usr/bin/env bash
# Install the Debian packages the tests and the image build drive, if any is missing: a C
# compiler and Python's headers (the service's resize extension), the shell linter, Prometheus
# (promtool and the drill's server), Chromium (the demo page test) and the podman stack (the
# image); and Alertmanager (amtool and the alert delivery tests) at the version production runs.
# Idempotent and quick when all are present; needs root.
set -euo pipefail

# Alertmanager v0.28.1, what kube-prometheus-stack 75.15.1 runs (values.yaml:916; gitops.
# alertmanager_config.ALERTMANAGER_VERSION): Debian 13's build of it, whose two static binaries
# run here (Debian 12 has 0.25.0, which lacks webhook url_file). Checked against its SHA-256
# (the suite's Packages index), installed to /usr/local/bin ahead of any other on PATH.
alertmanager_deb=http://deb.debian.org/debian/pool/main/p/prometheus-alertmanager/prometheus-alertmanager_0.28.1+ds-1_amd64.deb
alertmanager_sha256=76ee08c2bf686fa32ca243d099b6bfc6cb00074e9337c18ef73154b60c5830a9
install_alertmanager() {
  if /usr/local/bin/prometheus-alertmanager --version 2>&1 | grep -q "version 0.28.1+ds "; then
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "Alertmanager 0.28.1 missing; run as root: .ci/system-packages.sh" >&2
    exit 1
  fi
  local scratch
  scratch=$(mktemp -d)
  curl -fsSL --retry 3 -o "$scratch/alertmanager.deb" "$alertmanager_deb"
  echo "$alertmanager_sha256  $scratch/alertmanager.deb" | sha256sum --check --quiet
  dpkg-deb -x "$scratch/alertmanager.deb" "$scratch/root"
  install -m 0755 "$scratch/root/usr/bin/amtool" "$scratch/root/usr/bin/prometheus-alertmanager" /usr/local/bin/
  rm -rf "$scratch"
}

packages=(gcc libc6-dev python3-dev shellcheck curl prometheus chromium chromium-driver
  podman buildah runc crun fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns
  containernetworking-plugins iptables conmon golang-github-containers-common)
if dpkg -s "${packages[@]}" > /dev/null 2>&1; then
  install_alertmanager
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages; run as root: apt-get install ${packages[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
install_alertmanager
