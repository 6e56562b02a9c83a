{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "offerd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name: the release name, or release-chart when they differ. */}}
{{- define "offerd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "offerd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "offerd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "offerd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "offerd.labels" -}}
{{ include "offerd.selectorLabels" . }}
app.kubernetes.io/component: decisioning
app.kubernetes.io/part-of: offerd
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "offerd.chart" . }}
{{- end }}

{{- define "offerd.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "offerd.workloadKind" -}}
{{- if eq .Values.spool.type "pvc" }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

{{/*
Checks that no schema can make: the kubelet's grace period must cover the preStop
sleep and offerd's own shutdown deadline (server.shutdown_grace_secs in config, 10
when unset), or SIGKILL cuts the notification drain short.
*/}}
{{- define "offerd.checks" -}}
{{- if not (has .Values.spool.type (list "emptyDir" "pvc")) }}
{{- fail (printf "spool.type must be emptyDir or pvc, not %q" .Values.spool.type) }}
{{- end }}
{{- if not (has .Values.probes.mode (list "exec" "http")) }}
{{- fail (printf "probes.mode must be exec or http, not %q" .Values.probes.mode) }}
{{- end }}
{{- $grace := 10 }}
{{- $line := regexFind "(?m)^\\s*shutdown_grace_secs\\s*=\\s*[0-9]+" .Values.config }}
{{- if $line }}{{ $grace = regexFind "[0-9]+$" $line | atoi }}{{ end }}
{{- $needed := add $grace (int .Values.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above preStopSleepSeconds + server.shutdown_grace_secs (%d)" (int .Values.terminationGracePeriodSeconds) $needed) }}
{{- end }}
{{- end }}

{{- define "offerd.probeAction" -}}
{{- if eq .root.Values.probes.mode "exec" -}}
exec:
  command: ["/usr/local/bin/offerd", "--config", "/etc/offerd/config.toml", {{ .cmd | quote }}]
{{- else -}}
httpGet:
  path: {{ .path }}
  port: http
{{- end }}
{{- end }}

{{/* The pod template, shared by the Deployment and the StatefulSet. */}}
{{- define "offerd.podTemplate" -}}
metadata:
  labels:
    {{- include "offerd.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: decisioning
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ .Values.config | sha256sum }}
    {{- if .Values.prometheusAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .Values.containerPort | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # No OFFERD_PORT=tcp://... service-link variables (offerd reads only
  # OFFERD_<SECTION>__<KEY>; they are noise).
  enableServiceLinks: false
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if .Values.topologySpread }}
  topologySpreadConstraints:
    {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
    - maxSkew: 1
      topologyKey: {{ . }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "offerd.selectorLabels" $ | nindent 10 }}
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
  containers:
    - name: offerd
      image: {{ include "offerd.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve"]
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      env:
        - name: OFFERD_SERVER__BIND
          value: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
        - name: OFFERD_SPOOL__DIR
          value: {{ .Values.spool.mountPath | quote }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        {{- include "offerd.probeAction" (dict "root" . "cmd" "health" "path" "/health/live") | nindent 8 }}
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        {{- include "offerd.probeAction" (dict "root" . "cmd" "health" "path" "/health/live") | nindent 8 }}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        {{- include "offerd.probeAction" (dict "root" . "cmd" "ready" "path" "/health/ready") | nindent 8 }}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      {{- if gt (int .Values.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ .Values.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/offerd/config.toml
          subPath: config.toml
          readOnly: true
        - name: spool
          mountPath: {{ .Values.spool.mountPath }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "offerd.fullname" . }}-config
    {{- if eq .Values.spool.type "emptyDir" }}
    - name: spool
      emptyDir:
        {{- with .Values.spool.emptyDir.medium }}
        medium: {{ . }}
        {{- end }}
        sizeLimit: {{ .Values.spool.emptyDir.sizeLimit }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmp.sizeLimit }}
{{- end }}
