#!/usr/bin/env bash
# The chart as a user installs it on their own (rollouts/README.md): `helm install` with its
# defaults (a Deployment and an HPA, no add-on's kind), the image loaded into kind. It must become
# ready, refuse a request without the token it made, and classify a photo with that token.
set -euo pipefail
ns=classifier-standalone
helm install classifier "$(dirname "$0")/../../rollouts" -n "${ns}" --create-namespace --wait --timeout 10m \
  --set image.repository=classifier --set image.tag=e2e --set ingress.host=standalone.classifier.local \
  --set-string resources.requests.cpu=250m --set-string resources.requests.memory=512Mi \
  --set-string resources.limits.cpu=1 --set-string resources.limits.memory=1Gi
kubectl get deployment,hpa,pods,secret -n "${ns}"
kinds=$(helm get manifest classifier -n "${ns}" | sed -n 's/^kind: //p' | sort -u | tr '\n' ' ')
echo "installed: ${kinds}"
[[ "${kinds}" == *Deployment* && "${kinds}" != *Rollout* ]] || { echo "not a plain install: ${kinds}"; exit 1; }
kubectl exec -n "${ns}" deploy/classifier -- python -c '
import io, urllib.error, urllib.request
from PIL import Image
buf = io.BytesIO(); Image.new("RGB", (320, 240), (120, 80, 40)).save(buf, "JPEG")
url = "http://127.0.0.1:8000/v1/classify"
headers = {"Content-Type": "image/jpeg"}
try:
    urllib.request.urlopen(urllib.request.Request(url, data=buf.getvalue(), headers=headers), timeout=10)
    raise SystemExit("answered without a token")
except urllib.error.HTTPError as error:
    assert error.code == 401, error.code
token = open("/var/run/secrets/classifier/tokens").read().split()[0]
headers["Authorization"] = f"Bearer {token}"
answer = urllib.request.urlopen(urllib.request.Request(url, data=buf.getvalue(), headers=headers), timeout=10)
print(answer.status, answer.read()[:200])
'
helm uninstall classifier -n "${ns}"
