{{/* The name of the StatefulSet, its pods' prefix and the client Service. */}}
{{- define "runnel.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* The headless Service giving each broker pod its DNS name. */}}
{{- define "runnel.headless" -}}
{{- include "runnel.fullname" . }}-headless
{{- end -}}

{{/* The domain of the brokers' pod DNS names: POD.<this>. */}}
{{- define "runnel.domain" -}}
{{- include "runnel.headless" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{- define "runnel.labels" -}}
app.kubernetes.io/name: runnel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "runnel.selectorLabels" -}}
app.kubernetes.io/name: runnel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end -}}

{{- define "runnel.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* --peers: the initial brokers, node id = pod index + 1, by peer address. */}}
{{- define "runnel.peers" -}}
{{- $fullname := include "runnel.fullname" . -}}
{{- $domain := include "runnel.domain" . -}}
{{- range $i := until (int .Values.initialBrokers) -}}
{{- if $i }},{{ end }}{{ add1 $i }}={{ $fullname }}-{{ $i }}.{{ $domain }}:7402
{{- end -}}
{{- end -}}

{{/* The initial brokers' client addresses, for a sidecar's --upstream. */}}
{{- define "runnel.upstream" -}}
{{- $fullname := include "runnel.fullname" . -}}
{{- $domain := include "runnel.domain" . -}}
{{- range $i := until (int .Values.initialBrokers) -}}
{{- if $i }},{{ end }}{{ $fullname }}-{{ $i }}.{{ $domain }}:7400
{{- end -}}
{{- end -}}

{{- define "runnel.check" -}}
{{- if or (lt (int .Values.initialBrokers) 1) (eq (mod (int .Values.initialBrokers) 2) 0) -}}
{{- fail "initialBrokers must be odd (1, 3, 5): a quorum of them must be up to start" -}}
{{- end -}}
{{- if lt (int .Values.replicas) (int .Values.initialBrokers) -}}
{{- fail "replicas must be at least initialBrokers: the initial brokers are the cluster's voters" -}}
{{- end -}}
{{- end -}}
