#!/usr/bin/env bash
# Delete the local kind cluster made by cluster-up.sh.
set -euo pipefail
command -v kind > /dev/null || { echo "cluster-down: kind is required" >&2; exit 1; }
kind delete cluster --name model-serving
