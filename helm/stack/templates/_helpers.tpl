{{/* Chart name, at most 63 characters. */}}
{{- define "stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name, at most 63 characters (DNS label). */}}
{{- define "stack.fullname" -}}
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

{{/* Name of one component: (list $ "red") -> <fullname>-red. */}}
{{- define "stack.component" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "stack.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* StatefulSet names stay short: the controller-revision-hash label appends 11 characters. */}}
{{- define "stack.server" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "stack.fullname" $root) (index . 1) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "stack.secretName" -}}
{{- include "stack.component" (list . "secrets") }}
{{- end }}

{{- define "stack.configName" -}}
{{- include "stack.component" (list . "topology") }}
{{- end }}

{{- define "stack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "stack.labels" -}}
helm.sh/chart: {{ include "stack.chart" . }}
{{ include "stack.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ default (include "stack.name" .) .Values.project }}
{{- end }}

{{- define "stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: (dict "ctx" $ "component" "worker" "group" "red"). */}}
{{- define "stack.componentLabels" -}}
{{ include "stack.labels" .ctx }}
{{ include "stack.componentExtra" . }}
{{- end }}

{{- define "stack.componentSelector" -}}
{{ include "stack.selectorLabels" .ctx }}
{{ include "stack.componentExtra" . }}
{{- end }}

{{- define "stack.componentExtra" -}}
app.kubernetes.io/component: {{ .component }}
{{- with .group }}
stack/group: {{ . }}
{{- end }}
{{- end }}

{{/* The app image built by the kit. */}}
{{- define "stack.image" -}}
{{- .Values.image.repository }}{{ with .Values.image.tag }}:{{ . }}{{ end }}
{{- end }}

{{/* Pod settings shared by the app's pods (workers, beat, Flower): the image's user, no token. */}}
{{- define "stack.appPod" -}}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.container.uid }}
  runAsGroup: {{ .Values.container.gid }}
  fsGroup: {{ .Values.container.gid }}
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "stack.scheduling" . }}
{{- end }}

{{- define "stack.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container security: nothing to escalate to, nothing to write outside volumes. */}}
{{- define "stack.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: {{ . }}
  capabilities:
    drop:
      - ALL
{{- end }}

{{/* Pod annotations of app pods, which read the topology at start: (root, the pods' own
settingsChecksum). While the topology is the kit's rendering (topologySha256), a change rolls
only the pods whose own settings it changes; a topology edited by hand rolls them all. */}}
{{- define "stack.appAnnotations" -}}
{{- $root := index . 0 -}}
{{- $own := index . 1 -}}
{{- if and $own (eq $root.Values.topologySha256 (sha256sum $root.Values.topology)) -}}
checksum/settings: {{ $own }}
{{- else -}}
checksum/topology: {{ $root.Values.topology | sha256sum }}
{{- end }}
{{- with $root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Where a connection URL comes from: the chart's Secret, or the user's for type url. */}}
{{- define "stack.urlRef" -}}
{{- $root := index . 0 }}
{{- $spec := index . 1 }}
{{- $key := index . 2 -}}
secretKeyRef:
  {{- if eq $spec.type "url" }}
  name: {{ $spec.existingSecret }}
  key: {{ $spec.existingSecretKey }}
  {{- else }}
  name: {{ include "stack.secretName" $root }}
  key: {{ $key }}
  {{- end }}
{{- end }}

{{/* Environment of the app's containers: plain values, then the connection URLs. */}}
{{- define "stack.appEnv" -}}
- name: STACK_BROKER_URL
  valueFrom:
    {{- include "stack.urlRef" (list . .Values.broker "broker-url") | nindent 4 }}
{{- if ne .Values.backend.type "none" }}
- name: STACK_RESULT_BACKEND
  valueFrom:
    {{- include "stack.urlRef" (list . .Values.backend "result-backend") | nindent 4 }}
{{- end }}
{{- range $key, $value := .Values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Volumes of the app's containers: the topology and a writable tmpDir (health files). */}}
{{- define "stack.appVolumeMounts" -}}
- name: topology
  mountPath: {{ dir .Values.container.topologyPath }}
  readOnly: true
- name: tmp
  mountPath: {{ .Values.container.tmpDir }}
{{- end }}

{{- define "stack.appVolumes" -}}
- name: topology
  configMap:
    name: {{ include "stack.configName" . }}
    items:
      - key: topology.yaml
        path: {{ base .Values.container.topologyPath }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Requests and limits, leaving out empty maps. */}}
{{- define "stack.resources" -}}
{{- $out := dict }}
{{- with .requests }}{{ $_ := set $out "requests" . }}{{ end }}
{{- with .limits }}{{ $_ := set $out "limits" . }}{{ end }}
{{- if $out -}}
resources:
  {{- toYaml $out | nindent 2 }}
{{- else -}}
resources: {}
{{- end }}
{{- end }}

{{/* Whether the chart runs Redis (broker, or result backend). */}}
{{- define "stack.needsRedis" -}}
{{- if or (eq .Values.broker.type "redis") (eq .Values.backend.type "redis") }}true{{ end }}
{{- end }}

{{/* Every impossible value, reported at once. */}}
{{- define "stack.validate" -}}
{{- $errors := list }}
{{- if not .Values.topology }}
{{- $errors = append $errors "topology is empty: generate values.yaml with `stack render` or deploy with `stack deploy`" }}
{{- end }}
{{- if not .Values.image.repository }}
{{- $errors = append $errors "image.repository is empty: set the app image built by `stack build`" }}
{{- end }}
{{- range $which := list "broker" "backend" }}
{{- $spec := index $.Values $which }}
{{- if and (eq $spec.type "url") (not $spec.existingSecret) }}
{{- $errors = append $errors (printf "%s.type is url: create a Secret holding the URL and set %s.existingSecret (key %s.existingSecretKey)" $which $which $which) }}
{{- end }}
{{- end }}
{{- range $name, $w := .Values.workers }}
{{- if not (has (join "," $w.queues) $w.args) }}
{{- $errors = append $errors (printf "workers.%s: args do not consume its queues (no -Q %s); regenerate the values with `stack render`" $name (join "," $w.queues)) }}
{{- end }}
{{- if $w.autoscale.enabled }}
{{- if eq $.Values.broker.type "url" }}
{{- $errors = append $errors (printf "workers.%s.autoscale needs broker.type redis or rabbitmq: KEDA reads queue lengths from the broker the chart runs" $name) }}
{{- end }}
{{- if gt (int $w.autoscale.minReplicas) (int $w.autoscale.maxReplicas) }}
{{- $errors = append $errors (printf "workers.%s.autoscale: minReplicas %v exceeds maxReplicas %v" $name $w.autoscale.minReplicas $w.autoscale.maxReplicas) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.beat.enabled (not .Values.beat.args) }}
{{- $errors = append $errors "beat.enabled needs beat.args (the beat command)" }}
{{- end }}
{{- if and .Values.flower.enabled (not .Values.flower.args) }}
{{- $errors = append $errors "flower.enabled needs flower.args (the Flower command)" }}
{{- end }}
{{- if $errors }}
{{- fail (printf "invalid values: %s" (join "; " $errors)) }}
{{- end }}
{{- end }}
