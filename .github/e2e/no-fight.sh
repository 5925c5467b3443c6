#!/usr/bin/env bash
# After a release with selfHeal on: Argo CD and the Rollouts controller did not fight. The stable
# Service still selects the stable pods by the hash the controller set, the replica count is the
# autoscaler's, and Argo CD synced only for the releases themselves.
set -euo pipefail
for env in dev staging prod; do
  ns="classifier-${env}"
  stable=$(kubectl get rollout classifier -n "${ns}" -o jsonpath='{.status.stableRS}')
  selected=$(kubectl get service classifier-stable -n "${ns}" -o jsonpath='{.spec.selector.rollouts-pod-template-hash}')
  [[ -n "${stable}" && "${selected}" == "${stable}" ]] || { echo "${env}: stable Service selects '${selected}', stable is '${stable}'"; exit 1; }
  replicas=$(kubectl get rollout classifier -n "${ns}" -o jsonpath='{.spec.replicas}')
  desired=$(kubectl get hpa -n "${ns}" -o jsonpath='{.items[0].status.desiredReplicas}')
  [[ "${replicas}" == "${desired}" ]] || { echo "${env}: Rollout replicas ${replicas}, autoscaler wants ${desired}"; exit 1; }
  status=$(kubectl get application "${ns}" -n argocd -o jsonpath='{.status.sync.status}')
  syncs=$(kubectl get application "${ns}" -n argocd -o jsonpath='{.status.history[*].id}' | wc -w)
  [[ "${status}" == "Synced" && "${syncs}" -le 3 ]] || { echo "${env}: ${status} after ${syncs} syncs"; exit 1; }
  echo "${env}: stable ${stable}, ${replicas} replicas, ${syncs} syncs, ${status}"
done
