#!/usr/bin/env bash
# Lock every requirement set: `make lock`. Each *.in lists what a set needs at exact versions;
# each *.txt is its lock, every package (transitive ones and the build backend included) at one
# version with the hashes of its files, which pip installs with --require-hashes. The sets that
# share an environment or an image are locked against the .venv's lock (-c venv.txt), so a
# package has one version everywhere. Each lock ends with a line naming its inputs (this script
# among them) and their sha256: tools/tests/test_locks.py fails when one changed after the lock
# was written. uv keeps the versions an existing lock names unless an input asks otherwise.
# Resolved for the images' and CI's platform: CPython 3.11 on x86_64 Linux (manylinux_2_28).
set -euo pipefail
cd "$(dirname "$0")"
uv=${UV:-../.venv/bin/uv}

lock() {
  local output=$1
  shift
  "${uv}" pip compile --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
    --output-file "${output}" "$@"
  local inputs=()
  for argument in "$@"; do
    [[ -f "${argument}" ]] && inputs+=("${argument}")
  done
  inputs+=(lock.sh)  # how it was locked is an input too
  echo "# inputs: ${inputs[*]} sha256:$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)" >> "${output}"
}

# The .venv `make setup` makes: the service, the model build, tests, tools, load tests.
lock venv.txt runtime.in build.in dev.in tools.in loadtests.in backend.in
# The image's stages: the runtime venv, the build venv, the GPU runtime.
lock runtime.txt runtime.in -c venv.txt
lock build.txt runtime.in build.in backend.in -c venv.txt
lock gpu.txt runtime.in gpu.in backend.in -c venv.txt
# The workflows that run the delivery tools alone; the benchmark's extra (into the .venv).
lock tools.txt tools.in backend.in -c venv.txt
lock bench.txt bench.in -c venv.txt
# Their own venvs: checkov, and the peer servers (torch 2.13.0+cpu lies in this machine's
# wheel folder only, hence its find-links).
lock checkov.txt checkov.in
lock peers.txt peers.in --find-links /opt/wheels
