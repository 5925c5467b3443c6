{{/* The pod template, the same under a Rollout and a Deployment. */}}
{{- define "classifier.podTemplate" -}}
metadata:
  labels:
    app.kubernetes.io/name: classifier
spec:
  serviceAccountName: classifier
  automountServiceAccountToken: false
  # preStop 10 s (endpoints stop routing here) + up to 25 s to finish in-flight requests.
  terminationGracePeriodSeconds: 40
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: {{ .Values.zoneSpread }}
      labelSelector:
        matchLabels:
          app.kubernetes.io/name: classifier
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          app.kubernetes.io/name: classifier
  containers:
    - name: classifier
      image: {{ include "classifier.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: 8000
        - name: metrics
          containerPort: 9090
      env:
        - name: CLASSIFIER_HOST
          value: "0.0.0.0"
        - name: CLASSIFIER_PORT
          value: "8000"
        - name: CLASSIFIER_METRICS_PORT
          value: "9090"
        - name: CLASSIFIER_MODEL_NAME
          value: classifier
        - name: CLASSIFIER_SHUTDOWN_TIMEOUT_S
          value: "25"
        - name: CLASSIFIER_AUTH_TOKENS_FILE
          value: /var/run/secrets/classifier/tokens
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      {{- with .Values.probes.startup }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.readiness }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.liveness }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      lifecycle:
        preStop:
          sleep:
            seconds: 10
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        runAsUser: 10001
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: api-tokens
          mountPath: /var/run/secrets/classifier
          readOnly: true
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    - name: api-tokens
      secret:
        secretName: {{ include "classifier.tokensSecret" . }}
        defaultMode: 0440
{{- end }}
