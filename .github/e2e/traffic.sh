#!/usr/bin/env bash
# Steady traffic to every environment through ingress-nginx, by host, as clients would send it:
# the canary analysis needs something to measure, and the NetworkPolicy admits only the ingress
# controller to the API port. Each environment's token comes from the secret store, never from git.
set -euo pipefail
kubectl create namespace e2e-traffic --dry-run=client -o yaml | kubectl apply -f -
mkdir -p /tmp/tokens
for env in dev staging prod; do
  kubectl get secret "classifier-${env}-api-tokens" -n platform-secrets -o jsonpath='{.data.tokens}' \
    | base64 -d > "/tmp/tokens/${env}"
done
kubectl create secret generic classifier-api-tokens -n e2e-traffic --from-file=/tmp/tokens \
  --dry-run=client -o yaml | kubectl apply -f -
rm -r /tmp/tokens
kubectl apply -n e2e-traffic -f "$(dirname "$0")/traffic.yaml"
kubectl wait -n e2e-traffic --for=condition=Ready pod/traffic --timeout 5m
