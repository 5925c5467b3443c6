{{/* Every object's labels (selectors use app.kubernetes.io/name alone). */}}
{{- define "classifier.labels" -}}
app.kubernetes.io/name: classifier
app.kubernetes.io/part-of: model-serving-gitops
{{- end }}

{{/* Every object's metadata after its name: the release's namespace and the labels. */}}
{{- define "classifier.metadata" -}}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "classifier.labels" . | nindent 2 }}
{{- end }}

{{/* The image: by digest when one is set (staging and prod take nothing else), else by tag. */}}
{{- define "classifier.image" -}}
{{- with .Values.image -}}
{{- if .digest -}}
{{ .repository }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag | default $.Chart.AppVersion }}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Refuses autoscaler bounds with min above max (a JSON schema cannot compare two values). */}}
{{- define "classifier.checkReplicaBounds" -}}
{{- if gt (int .Values.replicas.min) (int .Values.replicas.max) -}}
{{- fail (printf "replicas.min (%d) is above replicas.max (%d)" (int .Values.replicas.min) (int .Values.replicas.max)) -}}
{{- end -}}
{{- end }}

{{/* The workload an autoscaler scales: the Rollout with Argo Rollouts, else the Deployment. */}}
{{- define "classifier.workloadRef" -}}
{{- if .Values.platform.argoRollouts -}}
apiVersion: argoproj.io/v1alpha1
kind: Rollout
{{- else -}}
apiVersion: apps/v1
kind: Deployment
{{- end }}
name: classifier
{{- end }}

{{/* The Secret holding the API tokens the pods and the quality check read. */}}
{{- define "classifier.tokensSecret" -}}
{{- .Values.apiTokens.existingSecret | default "classifier-api-tokens" -}}
{{- end }}

{{/* The Service user traffic reaches: the stable one with a traffic router, else every pod's. */}}
{{- define "classifier.ingressService" -}}
{{- if and .Values.platform.argoRollouts (eq .Values.canary.trafficRouting "nginx") -}}
classifier-stable
{{- else -}}
classifier
{{- end -}}
{{- end }}
