#!/usr/bin/env bash
# Install the platform into the kind cluster at the versions platform/ pins.
set -euo pipefail

version_of() { # the targetRevision of platform/<file>
  awk '/targetRevision:/ {print $2; exit}' "platform/$1"
}

kubectl create namespace argocd
kubectl apply -n argocd --server-side -f https://raw.githubusercontent.com/argoproj/argo-cd/v3.1.5/manifests/install.yaml

helm repo add argo https://argoproj.github.io/argo-helm
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts
helm repo add kedacore https://kedacore.github.io/charts
helm repo add external-secrets https://charts.external-secrets.io
helm repo update

helm install argo-rollouts argo/argo-rollouts -n argo-rollouts --create-namespace \
  --version "$(version_of argo-rollouts.yaml)" --wait
helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack -n monitoring --create-namespace \
  --version "$(version_of kube-prometheus-stack.yaml)" --wait --timeout 10m \
  --set grafana.enabled=false --set alertmanager.enabled=false \
  --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
  --set prometheus.prometheusSpec.scrapeInterval=15s
helm install keda kedacore/keda -n keda --create-namespace --version "$(version_of keda.yaml)" --wait
helm install external-secrets external-secrets/external-secrets -n external-secrets --create-namespace \
  --version "$(version_of external-secrets.yaml)" --set installCRDs=true --wait

# The secret store's source: a random API token, never written anywhere else.
kubectl create namespace platform-secrets
kubectl create secret generic classifier-api-tokens -n platform-secrets \
  --from-literal=tokens="$(openssl rand -hex 24)"
kubectl apply -f cluster/secret-store-access.yaml
kubectl apply -f platform/cluster-secret-store.yaml

curl -sSL -o /usr/local/bin/kubectl-argo-rollouts \
  https://github.com/argoproj/argo-rollouts/releases/download/v1.8.3/kubectl-argo-rollouts-linux-amd64
chmod +x /usr/local/bin/kubectl-argo-rollouts
