#!/usr/bin/env bash
# Create a local kind cluster with ingress-nginx and Argo CD at pinned versions, then hand over
# to Argo CD: the bootstrap Application renders argocd/apps, which installs Argo Rollouts,
# kube-prometheus-stack, KEDA and External Secrets (platform/), their configuration, and the
# ApplicationSet that deploys environments/*. Needs Docker, kind, kubectl, helm and the internet.
#
#   GITOPS_REPO_URL, GITOPS_REVISION  the repository and revision Argo CD deploys (default: the
#                                      ones in argocd/bootstrap.yaml, i.e. main)
#   LOCAL_IMAGE                        images to load into kind, space-separated; the first runs in
#                                      every environment instead of its digest
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$(dirname "$0")/versions.env"
cd "$(dirname "$0")/.."

for tool in docker kind kubectl helm; do
  command -v "${tool}" > /dev/null || { echo "cluster-up: ${tool} is required" >&2; exit 1; }
done

kind create cluster --config cluster/kind.yaml --image "${KIND_NODE_IMAGE}"
read -r -a images <<< "${LOCAL_IMAGE:-}"
for image in ${images[@]+"${images[@]}"}; do
  kind load docker-image "${image}" --name model-serving
done

helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx
helm repo add argo https://argoproj.github.io/argo-helm
helm repo update
# The admission webhook stays on (the chart's default): it refuses an Ingress whose host and
# path another Ingress already has, as on any real cluster.
helm install ingress-nginx ingress-nginx/ingress-nginx -n ingress-nginx --create-namespace \
  --version "${INGRESS_NGINX_CHART}" --wait \
  --set controller.hostPort.enabled=true --set controller.service.type=NodePort \
  --set-string controller.nodeSelector.ingress-ready=true \
  --set "controller.tolerations[0].key=node-role.kubernetes.io/control-plane" \
  --set "controller.tolerations[0].operator=Exists" --set "controller.tolerations[0].effect=NoSchedule"
helm install argocd argo/argo-cd -n argocd --create-namespace --version "${ARGO_CD_CHART}" \
  --values cluster/argocd-values.yaml --wait

# The secret store's source: a random API token per environment and Grafana's admin password,
# created here and nowhere in git.
kubectl create namespace platform-secrets
for env in dev staging prod; do
  kubectl create secret generic "classifier-${env}-api-tokens" -n platform-secrets \
    --from-literal=tokens="$(openssl rand -hex 24)"
done
kubectl create secret generic grafana-admin -n platform-secrets \
  --from-literal=admin-user=admin --from-literal=admin-password="$(openssl rand -hex 16)"
# Alertmanager's receivers (platform/credentials/alertmanager-receivers.yaml), placeholders that
# reach no one: PagerDuty refuses a routing key that is not one of its 32-character keys, and the
# .invalid domain never resolves (RFC 2606). Put real ones in the store to be paged.
kubectl create secret generic alertmanager-receivers -n platform-secrets \
  --from-literal=pagerduty-routing-key=local-cluster-placeholder \
  --from-literal=slack-webhook-url=https://chat.invalid/local-cluster-placeholder \
  --from-literal=heartbeat-url=https://heartbeat.invalid/local-cluster-placeholder
kubectl apply -f cluster/secret-store-access.yaml

LOCAL_IMAGE="${images[0]:-}" cluster/bootstrap-application.sh | kubectl apply -f -

password=$(kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)
cat <<TXT

Cluster up. Argo CD now installs the platform, then the environments (a few minutes).

  Argo CD:    kubectl -n argocd port-forward svc/argocd-server 8081:443
              https://localhost:8081  (admin / ${password})
  Grafana:    kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80
              http://localhost:3000   (admin / \$(kubectl get secret grafana-admin -n platform-secrets -o jsonpath='{.data.admin-password}' | base64 -d))
  Rollouts:   kubectl argo rollouts get rollout classifier -n classifier-dev --watch
  Service:    curl -H 'Host: dev.classifier.local' -H "Authorization: Bearer \$TOKEN" \\
                --data-binary @photo.jpg -H 'content-type: image/jpeg' http://localhost:8080/v1/classify
              (staging.classifier.local, prod.classifier.local for the others)
              TOKEN: kubectl get secret classifier-dev-api-tokens -n platform-secrets -o jsonpath='{.data.tokens}' | base64 -d
TXT
