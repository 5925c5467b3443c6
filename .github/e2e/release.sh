#!/usr/bin/env bash
# A release the GitOps way, with automated sync and selfHeal on everywhere: the app of apps is
# pointed at another image (cluster/bootstrap-application.sh, as `make cluster-up` applies it),
# Argo CD syncs all three environments, and Argo Rollouts runs each canary. Then assert:
#   healthy: staging (nginx traffic routing) and dev promote the new image, Healthy; staging's
#            canary went through a canary Ingress with a canary-weight; prod has started its canary;
#   faulty:  30% injected errors: the analysis fails and the staging and prod rollouts abort.
set -euo pipefail
kind=${1:?healthy or faulty}
case "${kind}" in
  healthy) image=classifier:e2e-next ;;
  faulty) image=classifier:e2e-faulty ;;
  *) echo "release.sh: healthy or faulty, not ${kind}" >&2; exit 2 ;;
esac
: "${GITOPS_REPO_URL:?}" "${GITOPS_REVISION:?}"
LOCAL_IMAGE=${image} "$(dirname "$0")/../../cluster/bootstrap-application.sh" | kubectl apply -f -

image_of() { kubectl get rollout classifier -n "classifier-$1" -o jsonpath='{.spec.template.spec.containers[0].image}'; }
for env in dev staging prod; do # Argo CD renders the new image into every environment
  for _ in $(seq 1 60); do [[ "$(image_of "${env}")" == "${image}" ]] && break; sleep 10; done
  [[ "$(image_of "${env}")" == "${image}" ]] || { echo "${env} never got ${image}"; exit 1; }
done

if [[ "${kind}" == "healthy" ]]; then
  weight=""
  for _ in $(seq 1 60); do
    weight=$(kubectl get ingress classifier-classifier-canary -n classifier-staging \
      -o jsonpath='{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}' 2> /dev/null || true)
    [[ -n "${weight}" && "${weight}" != "0" ]] && break
    sleep 10
  done
  [[ -n "${weight}" && "${weight}" != "0" ]] || { echo "staging's canary Ingress never carried a weight"; exit 1; }
  echo "staging canary Ingress weight: ${weight}"
  for env in dev staging; do
    kubectl argo rollouts status classifier -n "classifier-${env}" --timeout 25m
    phase=$(kubectl get rollout classifier -n "classifier-${env}" -o jsonpath='{.status.phase}')
    [[ "${phase}" == "Healthy" ]] || { echo "${env}: expected Healthy, got ${phase}"; exit 1; }
  done
  hashes=$(kubectl get rollout classifier -n classifier-prod -o jsonpath='{.status.currentPodHash} {.status.stableRS}')
  read -r current stable <<< "${hashes}"
  [[ "${current}" != "${stable}" ]] || { echo "prod has not started its canary"; exit 1; }
else
  for env in staging prod; do
    aborted=""
    for _ in $(seq 1 90); do
      aborted=$(kubectl get rollout classifier -n "classifier-${env}" -o jsonpath='{.status.abort}')
      [[ "${aborted}" == "true" ]] && break
      sleep 10
    done
    [[ "${aborted}" == "true" ]] || { echo "${env}: the faulty release was not aborted"; exit 1; }
    kubectl get analysisrun -n "classifier-${env}" \
      -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}' | tee /dev/stderr | grep -q Failed
  done
fi
echo "${kind} release: as expected"
