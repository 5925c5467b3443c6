#!/usr/bin/env bash
# Roll out a new revision of the classifier in dev and assert the outcome:
#   healthy: the canary analysis passes and the Rollout is promoted (Healthy);
#   faulty:  30% injected errors; the analysis fails and the Rollout is aborted (Degraded).
set -euo pipefail
kind=${1:?healthy or faulty}
ns=classifier-dev

if [[ "${kind}" == "healthy" ]]; then
  change='[{"op":"add","path":"/spec/template/metadata/annotations","value":{"e2e/release":"healthy"}}]'
else
  change='[{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"CLASSIFIER_FAULT_ERROR_RATE","value":"0.3"}}]'
fi
kubectl patch rollout classifier -n "${ns}" --type json -p "${change}"

if [[ "${kind}" == "healthy" ]]; then
  kubectl argo rollouts status classifier -n "${ns}" --timeout 15m
  phase=$(kubectl get rollout classifier -n "${ns}" -o jsonpath='{.status.phase}')
  [[ "${phase}" == "Healthy" ]] || { echo "expected Healthy, got ${phase}"; exit 1; }
else
  for _ in $(seq 1 90); do
    aborted=$(kubectl get rollout classifier -n "${ns}" -o jsonpath='{.status.abort}')
    [[ "${aborted}" == "true" ]] && break
    sleep 10
  done
  [[ "${aborted}" == "true" ]] || { echo "the faulty release was not aborted"; exit 1; }
  kubectl get analysisrun -n "${ns}" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}' \
    | tee /dev/stderr | grep -q Failed
fi
echo "${kind} release: as expected"
