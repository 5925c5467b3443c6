#!/usr/bin/env bash
# Print argocd/bootstrap.yaml as cluster-up.sh applies it: pointed at GITOPS_REPO_URL and
# GITOPS_REVISION when set (a fork, a branch, the commit under test in e2e), with the app of apps'
# local-cluster profile on, and LOCAL_IMAGE run in every environment when set. Offline
# (`kubectl patch --local`); tools/tests/test_cluster_scripts.py renders and validates its output.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl=${KUBECTL:-kubectl}

patch='[{"op":"add","path":"/spec/source/helm/parameters/-","value":{"name":"localCluster.enabled","value":"true"}}'
if [[ -n "${LOCAL_IMAGE:-}" ]]; then
  patch+=',{"op":"add","path":"/spec/source/helm/parameters/-","value":{"name":"localCluster.image","value":"'"${LOCAL_IMAGE}"'"}}'
fi
if [[ -n "${GITOPS_REPO_URL:-}" ]]; then
  patch+=',{"op":"replace","path":"/spec/source/repoURL","value":"'"${GITOPS_REPO_URL}"'"}'
fi
if [[ -n "${GITOPS_REVISION:-}" ]]; then
  patch+=',{"op":"replace","path":"/spec/source/targetRevision","value":"'"${GITOPS_REVISION}"'"}'
fi
patch+=']'
"${kubectl}" patch --local -f argocd/bootstrap.yaml --type json -p "${patch}" -o yaml
