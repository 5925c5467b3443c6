{{/* The source of an Application that reads a folder of this repository. */}}
{{- define "apps.source" -}}
repoURL: {{ .root.Values.repoURL | quote }}
targetRevision: {{ .root.Values.revision | quote }}
path: {{ .path | quote }}
{{- end }}

{{/*
Sync retries that outlast the platform's first install: an Application whose custom resources
need CRDs another Application installs fails its first attempts. Argo CD does not retry a failed
revision on its own (controller/appcontroller.go autoSync, "Skipping auto-sync: failed previous
sync attempt"); 10 retries at 15 s doubling to 3 min span about 22 minutes.
*/}}
{{- define "apps.retry" -}}
retry:
  limit: 10
  backoff:
    duration: 15s
    factor: 2
    maxDuration: 3m
{{- end }}
