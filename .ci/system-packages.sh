#!/usr/bin/env bash
# Install the Debian packages the tests and the image build drive, if any is missing: a C
# compiler and Python's headers (the service's resize extension), the shell linter, Chromium (the
# demo page test) and the podman stack (the image); and Prometheus (promtool, the drills' server) and
# Alertmanager (amtool, the alert delivery tests) at the versions production runs.
# Idempotent and quick when all are present; needs root.
set -euo pipefail

# Prometheus and Alertmanager at the versions production runs (kube-prometheus-stack 75.15.1,
# values.yaml:916 and :3996: Alertmanager v0.28.1, Prometheus v3.5.0; gitops.alertmanager_config and
# gitops.drill_stack name them): Debian 12 has 0.25 and 2.42, so they come from the Debian suites that
# build them (trixie: Alertmanager 0.28.1; forky: Prometheus 3.5.x, the same long-term-support line).
# Taken as apt takes them, but only their static binaries, into /usr/local/bin (ahead on PATH), and
# the data a binary reads from a fixed path (Debian's Alertmanager reads its notification
# templates from /usr/share/prometheus/alertmanager/, not from the binary: without them every
# configuration fails with "failed to parse templates"; a stamp there names the version): the
# suite's InRelease checked against Debian's archive keys, its Packages index against the hash
# InRelease gives, the .deb against the hash the index gives.
mirror=http://deb.debian.org/debian
install_from_suite() {  # suite package version-prefix data-directory-or-- binary...
  local suite=$1 package=$2 version=$3 data=$4 binary missing=0 scratch
  shift 4
  for binary in "$@"; do
    /usr/local/bin/"$binary" --version 2>&1 | grep -qF "version $version" || missing=1
  done
  [[ $data == - || -f /$data/.$package-$version ]] || missing=1
  [[ $missing -eq 0 ]] && return
  if [[ $(id -u) -ne 0 ]]; then
    echo "$package $version missing from /usr/local/bin; run as root: .ci/system-packages.sh" >&2
    exit 1
  fi
  scratch=$(mktemp -d)
  curl -fsSL --retry 3 -o "$scratch/InRelease" "$mirror/dists/$suite/InRelease"
  gpgv --quiet --keyring /usr/share/keyrings/debian-archive-keyring.gpg --output "$scratch/Release" \
    "$scratch/InRelease"
  curl -fsSL --retry 3 -o "$scratch/Packages.xz" "$mirror/dists/$suite/main/binary-amd64/Packages.xz"
  local index_sha256
  index_sha256=$(awk '/^SHA256:/ {on = 1; next} /^[^ ]/ {on = 0}
    on && $3 == "main/binary-amd64/Packages.xz" {print $1}' "$scratch/Release")
  echo "$index_sha256  $scratch/Packages.xz" | sha256sum --check --quiet
  local stanza
  stanza=$(xz -dc "$scratch/Packages.xz" | awk -v name="$package" '
    /^Package: / {on = ($2 == name)} on && /^(Version|Filename|SHA256): / {print $2}')
  read -r deb_version filename deb_sha256 <<< "$(echo "$stanza" | tr '\n' ' ')"
  if [[ $deb_version != "$version"* ]]; then
    echo "$suite has $package $deb_version, not $version: production's version moved, or the suite did" >&2
    exit 1
  fi
  curl -fsSL --retry 3 -o "$scratch/package.deb" "$mirror/$filename"
  echo "$deb_sha256  $scratch/package.deb" | sha256sum --check --quiet
  dpkg-deb -x "$scratch/package.deb" "$scratch/root"
  for binary in "$@"; do
    install -m 0755 "$scratch/root/usr/bin/$binary" /usr/local/bin/
  done
  if [[ $data != - ]]; then
    rm -rf "/${data:?}"
    mkdir -p "/$data"
    cp -R "$scratch/root/$data/." "/$data/"
    touch "/$data/.$package-$version"
  fi
  rm -rf "$scratch"
}
install_prometheus_and_alertmanager() {
  install_from_suite trixie prometheus-alertmanager 0.28.1 usr/share/prometheus/alertmanager \
    amtool prometheus-alertmanager
  install_from_suite forky promtool 3.5. - promtool
  install_from_suite forky prometheus 3.5. - prometheus
}

packages=(gcc libc6-dev python3-dev shellcheck curl gpgv debian-archive-keyring xz-utils chromium chromium-driver
  podman buildah runc crun fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns
  containernetworking-plugins iptables conmon golang-github-containers-common)
if dpkg -s "${packages[@]}" > /dev/null 2>&1; then
  install_prometheus_and_alertmanager
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages; run as root: apt-get install ${packages[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
install_prometheus_and_alertmanager
