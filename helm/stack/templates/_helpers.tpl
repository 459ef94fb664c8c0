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

{{/* The Secret holding the passwords: the user's (secrets.existingSecret) or the chart's. */}}
{{- define "stack.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "stack.component" (list . "secrets")) }}
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

{{/* Pod settings shared by the app's pods (workers, beat, Flower, metrics): the image's
user, no token unless asked for; called with the component's labels dict. */}}
{{- define "stack.appPod" -}}
{{- $root := .ctx -}}
automountServiceAccountToken: {{ $root.Values.automountServiceAccountToken }}
{{- with $root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
enableServiceLinks: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ $root.Values.container.uid }}
  runAsGroup: {{ $root.Values.container.gid }}
  fsGroup: {{ $root.Values.container.gid }}
  seccompProfile:
    type: RuntimeDefault
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "stack.scheduling" $root }}
{{- with $root.Values.topologySpreadConstraints }}
{{- /* A constraint without a labelSelector spreads this component's own pods. */}}
{{- $selector := fromYaml (include "stack.componentSelector" $) }}
topologySpreadConstraints:
  {{- range . }}
  {{- $c := deepCopy . }}
  {{- if not (hasKey $c "labelSelector") }}
  {{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
  {{- end }}
  - {{- toYaml $c | nindent 4 }}
  {{- end }}
{{- end }}
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
{{- with .Values.affinity }}
affinity:
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

{{/* Where an external URL comes from (type url): the user's Secret. */}}
{{- define "stack.urlRef" -}}
secretKeyRef:
  name: {{ .existingSecret }}
  key: {{ .existingSecretKey }}
{{- end }}

{{- define "stack.passwordRef" -}}
{{- $root := index . 0 -}}
valueFrom:
  secretKeyRef:
    name: {{ include "stack.secretName" $root }}
    key: {{ index . 1 }}
{{- end }}

{{/* Environment of the app's containers: the passwords from the Secret, the connection URLs
built from them by Kubernetes' $(VAR) expansion (so the user's Secret needs passwords only),
then the plain values and the user's own entries. */}}
{{- define "stack.appEnv" -}}
{{- include "stack.appEnvEntries" . | trim }}
{{- end }}

{{- define "stack.appEnvEntries" -}}
{{- if include "stack.needsRedis" . }}
- name: STACK_REDIS_PASSWORD
  {{- include "stack.passwordRef" (list . "redis-password") | nindent 2 }}
{{- end }}
{{- if eq .Values.broker.type "rabbitmq" }}
- name: STACK_RABBITMQ_USER
  {{- include "stack.passwordRef" (list . "rabbitmq-user") | nindent 2 }}
- name: STACK_RABBITMQ_PASSWORD
  {{- include "stack.passwordRef" (list . "rabbitmq-password") | nindent 2 }}
{{- end }}
- name: STACK_BROKER_URL
  {{- if eq .Values.broker.type "url" }}
  valueFrom:
    {{- include "stack.urlRef" .Values.broker | nindent 4 }}
  {{- else if eq .Values.broker.type "redis" }}
  value: {{ printf "redis://:$(STACK_REDIS_PASSWORD)@%s/0" (include "stack.redisHost" .) | quote }}
  {{- else }}
  value: {{ printf "amqp://$(STACK_RABBITMQ_USER):$(STACK_RABBITMQ_PASSWORD)@%s//" (include "stack.rabbitmqHost" .) | quote }}
  {{- end }}
{{- if eq .Values.backend.type "url" }}
- name: STACK_RESULT_BACKEND
  valueFrom:
    {{- include "stack.urlRef" .Values.backend | nindent 4 }}
{{- else if eq .Values.backend.type "redis" }}
- name: STACK_RESULT_BACKEND
  value: {{ printf "redis://:$(STACK_REDIS_PASSWORD)@%s/1" (include "stack.redisHost" .) | quote }}
{{- end }}
{{- range $key, $value := .Values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "stack.redisHost" -}}
{{- printf "%s.%s.svc:%v" (include "stack.server" (list . "redis")) .Release.Namespace .Values.redis.port }}
{{- end }}

{{- define "stack.rabbitmqHost" -}}
{{- printf "%s.%s.svc:%v" (include "stack.server" (list . "rabbitmq")) .Release.Namespace .Values.rabbitmq.port }}
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
{{- if and .Values.flower.enabled (ne .Values.flower.service.type "ClusterIP") (not .Values.flower.service.allowPlainHttp) }}
{{- $errors = append $errors (printf "flower.service.type %s would send Flower's basic-auth password over plain HTTP: keep ClusterIP behind an Ingress with TLS, or set flower.service.allowPlainHttp=true where TLS ends in front of it" .Values.flower.service.type) }}
{{- end }}
{{- if and .Values.flower.enabled (not .Values.flower.args) }}
{{- $errors = append $errors "flower.enabled needs flower.args (the Flower command)" }}
{{- end }}
{{- if $errors }}
{{- fail (printf "invalid values: %s" (join "; " $errors)) }}
{{- end }}
{{- end }}
