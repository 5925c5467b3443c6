{{/*
The Rollout's steps: the environment's pace (canary.steps, weights and pauses) between the
model-quality check before user traffic and the analysis before full promotion, written once here.
*/}}

{{/* Argo Rollouts reads the pods' hashes and the namespace at run time; the stable hash is the
background analysis's only (utils/analysis/factory.go:25-34, podTemplateHashValue Stable). */}}
{{- define "classifier.analysisArgs" -}}
- name: canary-hash
  valueFrom:
    podTemplateHashValue: Latest
{{- if .stable }}
- name: stable-hash
  valueFrom:
    podTemplateHashValue: Stable
{{- end }}
- name: namespace
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* The paired model-quality check (files/analysis-quality-paired.yaml, generated): a Job sends
the image's golden set to the canary Service and to the stable Service and fails on answers that
differ too much (argo-rollouts v1.8.3 metricproviders/job/job.go:186-195: a failed Job is a Failed
measurement, which aborts). */}}
{{- define "classifier.pairedCheck" -}}
- analysis:
    templates:
      - templateName: classifier-quality-paired
{{- end }}

{{- define "classifier.canarySteps" -}}
{{- if eq .Values.canary.trafficRouting "nginx" }}
# Before any user traffic: one canary pod at 0% of the traffic (setCanaryScale needs
# trafficRouting, pkg/apis/rollouts/validation/validation.go:325-326; the weight is the last
# setWeight's, 0 before the first, utils/replicaset/canary.go:484-499), checked by the paired
# model-quality Job through the canary Service, which selects the canary pods before the step's
# run starts (rollout/canary.go:63, :76).
- setCanaryScale: {replicas: 1}
{{ include "classifier.pairedCheck" . }}
# Back to canary pods in proportion to the traffic: a later setWeight alone would keep the one pod
# (docs/features/canary/index.md:135).
- setCanaryScale: {matchTrafficWeight: true}
{{- range .Values.canary.steps }}
- setWeight: {{ .setWeight }}
{{- with .pause }}
- pause: {duration: {{ . }}}
{{- end }}
{{- end }}
{{- else }}
{{- range $index, $step := .Values.canary.steps }}
- setWeight: {{ $step.setWeight }}
{{- if eq $index 0 }}
# Without traffic routing a canary pod exists only from the first setWeight, which completes once
# its pods are available (utils/replicaset/canary.go:38); the canary Service selects them from
# then on (rollout/service.go:281, :323).
{{ include "classifier.pairedCheck" $ }}
{{- end }}
{{- with $step.pause }}
- pause: {duration: {{ . }}}
{{- end }}
{{- end }}
{{- end }}
# Before full promotion (files/analysis-step.yaml, generated from platform/slo/slos.yaml): every
# measurement must pass. A failed one aborts, an inconclusive one (no data) pauses, the fifth
# Prometheus error in a row aborts (rollout/analysis.go reconcileStepBasedAnalysisRun). The paired
# check runs again beside it: one run, its metrics in parallel (docs/features/analysis.md,
# "combines the metrics and args fields of all the templates").
- analysis:
    templates:
      - templateName: classifier-canary-step
      - templateName: classifier-quality-paired
    args:
      {{- include "classifier.analysisArgs" (dict "stable" false) | nindent 6 }}
{{- end }}
