#!/usr/bin/env bash
# Wait until every Application the bootstrap leads to (gitops-applications lists them from git)
# is Synced and Healthy in Argo CD: the platform, its configuration and all three environments,
# each with automated sync and selfHeal on.
set -euo pipefail
timeout=${TIMEOUT_SECONDS:-1500}
mapfile -t expected < <(gitops-applications --names)
deadline=$((SECONDS + timeout))
while :; do
  pending=()
  for app in "${expected[@]}"; do
    status=$(kubectl get application "${app}" -n argocd -o jsonpath='{.status.sync.status}/{.status.health.status}' 2> /dev/null || true)
    [[ "${status}" == "Synced/Healthy" ]] || pending+=("${app}=${status:-missing}")
  done
  if ((${#pending[@]} == 0)); then
    echo "all ${#expected[@]} Applications Synced/Healthy"
    exit 0
  fi
  if ((SECONDS >= deadline)); then
    echo "after ${timeout}s, not Synced/Healthy: ${pending[*]}" >&2
    exit 1
  fi
  echo "waiting: ${pending[*]}"
  sleep 15
done
