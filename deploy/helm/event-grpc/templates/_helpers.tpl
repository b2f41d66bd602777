{{- define "event-grpc.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "event-grpc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "event-grpc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "event-grpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "event-grpc.labels" -}}
{{ include "event-grpc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "event-grpc.secretName" -}}
{{- default (printf "%s-secrets" (include "event-grpc.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Checks that stop a render which would deploy something broken. */}}
{{- define "event-grpc.validate" -}}
{{- if not (has .Values.mode (list "embedded" "broker")) -}}
{{- fail (printf "mode: %q is not embedded or broker" .Values.mode) -}}
{{- end -}}
{{- if eq .Values.mode "broker" -}}
{{- $broker := lower (default "jetstream" .Values.env.BROKER) -}}
{{- if not (has $broker (list "rabbitmq" "nats")) -}}
{{- fail "mode broker: set env.BROKER to rabbitmq or nats (the embedded JetStream keeps its queue in each pod's volume: use mode embedded)" -}}
{{- end -}}
{{- if ne (lower (default "duckdb" .Values.env.SINK)) "clickhouse" -}}
{{- fail "mode broker: set env.SINK to clickhouse (DuckDB is a file per pod: use mode embedded)" -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := .Values.env -}}
{{- if or (eq $k "SHUTDOWN_GRACE") (eq $k "SHUTDOWN_TIMEOUT") (eq $k "DATA_DIR") (eq $k "PORT") (eq $k "GIN_PORT") -}}
{{- fail (printf "env.%s: set by the chart (shutdown.*, service.*); remove it from env" $k) -}}
{{- end -}}
{{- if hasKey $.Values.secrets.keys $k -}}
{{- fail (printf "env.%s: a secret; list it under secrets.keys, not env" $k) -}}
{{- end -}}
{{- end -}}
{{- if le (int .Values.shutdown.timeoutSeconds) (int .Values.shutdown.graceSeconds) -}}
{{- fail "shutdown.timeoutSeconds must exceed shutdown.graceSeconds" -}}
{{- end -}}
{{- end -}}

{{/* The pod template shared by the Deployment and the StatefulSet. */}}
{{- define "event-grpc.podTemplate" -}}
metadata:
  labels:
    {{- include "event-grpc.selectorLabels" . | nindent 4 }}
  annotations:
    checksum/secret: {{ toYaml .Values.secrets | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  # SIGTERM: SHUTDOWN_GRACE not ready, then a drain bounded by
  # SHUTDOWN_TIMEOUT; Kubernetes must not SIGKILL before both are over.
  terminationGracePeriodSeconds: {{ add .Values.shutdown.graceSeconds .Values.shutdown.timeoutSeconds .Values.shutdown.terminationSlackSeconds }}
  containers:
    - name: event-grpc
      image: "{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve"]
      ports:
        - name: grpc
          containerPort: {{ .Values.service.grpcPort }}
          protocol: TCP
        - name: http
          containerPort: {{ .Values.service.httpPort }}
          protocol: TCP
      env:
        - name: DATA_DIR
          value: /data
        - name: PORT
          value: {{ .Values.service.grpcPort | quote }}
        - name: GIN_PORT
          value: {{ .Values.service.httpPort | quote }}
        - name: LISTEN_ADDR
          value: "0.0.0.0"
        - name: SHUTDOWN_GRACE
          value: "{{ .Values.shutdown.graceSeconds }}s"
        - name: SHUTDOWN_TIMEOUT
          value: "{{ .Values.shutdown.timeoutSeconds }}s"
        {{- range $k, $v := .Values.env }}
        - name: {{ $k }}
          value: {{ $v | toString | quote }}
        {{- end }}
        {{- range $k, $key := .Values.secrets.keys }}
        - name: {{ $k }}_FILE
          value: /run/secrets/event-grpc/{{ $key }}
        {{- end }}
      readinessProbe:
        {{- if eq .Values.probes.readiness "grpc" }}
        grpc:
          port: {{ .Values.service.grpcPort }}
        {{- else }}
        httpGet:
          path: /heartbeat
          port: http
        {{- end }}
        periodSeconds: {{ .Values.probes.readinessPeriodSeconds }}
        failureThreshold: 2
        successThreshold: 1
      livenessProbe:
        tcpSocket:
          port: http
        periodSeconds: {{ .Values.probes.livenessPeriodSeconds }}
        failureThreshold: {{ .Values.probes.livenessFailureThreshold }}
      startupProbe:
        tcpSocket:
          port: http
        periodSeconds: 5
        failureThreshold: {{ .Values.probes.startupFailureThreshold }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
        - name: tmp
          mountPath: /tmp
        {{- if .Values.secrets.keys }}
        - name: secrets
          mountPath: /run/secrets/event-grpc
          readOnly: true
        {{- end }}
  volumes:
    {{- if eq .Values.mode "broker" }}
    # broker mode keeps nothing of its own: DATA_DIR is scratch.
    - name: data
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir: {}
    {{- if .Values.secrets.keys }}
    - name: secrets
      secret:
        secretName: {{ include "event-grpc.secretName" . }}
        defaultMode: 0440   # group-readable: the group is fsGroup (10001)
        items:
          {{- range $k, $key := .Values.secrets.keys }}
          - key: {{ $key }}
            path: {{ $key }}
          {{- end }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
