#!/usr/bin/env bash
# Create a local kind cluster with ingress-nginx and Argo CD at pinned versions, then hand over
# to Argo CD: the bootstrap Application installs Argo Rollouts, kube-prometheus-stack, KEDA and
# External Secrets (platform/) and the ApplicationSet that deploys environments/*.
# Needs Docker, kind, kubectl, helm and the internet.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$(dirname "$0")/versions.env"
cd "$(dirname "$0")/.."

for tool in docker kind kubectl helm; do
  command -v "${tool}" > /dev/null || { echo "cluster-up: ${tool} is required" >&2; exit 1; }
done

kind create cluster --config cluster/kind.yaml --image "${KIND_NODE_IMAGE}"

helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx
helm repo add argo https://argoproj.github.io/argo-helm
helm repo update
helm install ingress-nginx ingress-nginx/ingress-nginx -n ingress-nginx --create-namespace \
  --version "${INGRESS_NGINX_CHART}" --wait \
  --set controller.hostPort.enabled=true --set controller.service.type=NodePort \
  --set-string controller.nodeSelector.ingress-ready=true \
  --set "controller.tolerations[0].key=node-role.kubernetes.io/control-plane" \
  --set "controller.tolerations[0].operator=Exists" --set "controller.tolerations[0].effect=NoSchedule"
helm install argocd argo/argo-cd -n argocd --create-namespace --version "${ARGO_CD_CHART}" --wait

# The secret store's source: a random API token, created here and nowhere in git.
kubectl create namespace platform-secrets
kubectl create secret generic classifier-api-tokens -n platform-secrets \
  --from-literal=tokens="$(openssl rand -hex 24)"
kubectl apply -f cluster/secret-store-access.yaml

kubectl apply -f argocd/bootstrap.yaml

password=$(kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)
cat <<TXT

Cluster up. Argo CD now installs the platform and the environments (a few minutes).

  Argo CD:    kubectl -n argocd port-forward svc/argocd-server 8081:443
              https://localhost:8081  (admin / ${password})
  Grafana:    kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80
              http://localhost:3000   (admin / prom-operator)
  Rollouts:   kubectl argo rollouts get rollout classifier -n classifier-dev --watch
  Service:    curl -H 'Host: classifier.local' -H "Authorization: Bearer \$TOKEN" \\
                --data-binary @photo.jpg -H 'content-type: image/jpeg' http://localhost:8080/v1/classify
              TOKEN: kubectl get secret classifier-api-tokens -n platform-secrets -o jsonpath='{.data.tokens}' | base64 -d
TXT
