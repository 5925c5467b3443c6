#!/usr/bin/env bash
# Let Argo CD deploy environments/dev at this commit, with the image built in this job.
set -euo pipefail
: "${REVISION:?}" "${REPO_URL:?}"

kubectl apply -f - <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: classifier-dev
  namespace: argocd
spec:
  project: default
  source:
    repoURL: ${REPO_URL}
    targetRevision: ${REVISION}
    path: environments/dev
    kustomize:
      images:
        - classifier=classifier:e2e
  destination:
    server: https://kubernetes.default.svc
    namespace: classifier-dev
  syncPolicy:
    syncOptions: [CreateNamespace=true, ServerSideApply=true]
    automated: {}
YAML

for _ in $(seq 1 60); do
  status=$(kubectl get application classifier-dev -n argocd -o jsonpath='{.status.sync.status}/{.status.health.status}' || true)
  echo "argocd: ${status}"
  [[ "${status}" == "Synced/Healthy" ]] && break
  sleep 10
done
[[ "${status}" == "Synced/Healthy" ]]
# From here on the releases below change the live Rollout: stop Argo CD from undoing them.
kubectl patch application classifier-dev -n argocd --type merge -p '{"spec":{"syncPolicy":{"automated":null}}}'

# Steady traffic, so the canary analysis has something to measure. It comes from the
# ingress-nginx namespace: the only one the NetworkPolicy lets reach the API port.
kubectl create namespace ingress-nginx --dry-run=client -o yaml | kubectl apply -f -
kubectl get secret classifier-api-tokens -n classifier-dev -o jsonpath='{.data.tokens}' | base64 -d > /tmp/tokens
kubectl create secret generic classifier-api-tokens -n ingress-nginx --from-file=tokens=/tmp/tokens
rm /tmp/tokens
kubectl apply -n ingress-nginx -f .github/e2e/traffic.yaml
