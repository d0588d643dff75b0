{{/*
Egress rules of the NetworkPolicies (docs/decisions/0023-network-policies.md). Egress ports are
numbers: a named port in an egress rule is resolved against the destination pod, so it breaks on
any destination that names its port differently (or is not a pod at all).
Kubelet probes need no rule: enforcers admit traffic from the pod's own node.
*/}}

{{/* The API's container port: a Service's targetPort is DNATed to it before egress is checked. */}}
{{- define "platform.apiContainerPort" -}}8000{{- end }}

{{/* DNS: networkPolicy.dnsPeers on port 53, UDP and TCP (large answers fall back to TCP). */}}
{{- define "platform.dnsEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.dnsPeers | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/*
The database: this release's PostgreSQL pods on 5432 (bundled), or database.port to
networkPolicy.externalDatabasePeers, any destination when that is empty (external).
*/}}
{{- define "platform.databaseEgress" -}}
{{- if eq .Values.database.mode "bundled" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "platform.selectorLabels" . | nindent 10 }}
          app.kubernetes.io/component: database
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- ports:
    - port: {{ int .Values.database.port }}
      protocol: TCP
  {{- with .Values.networkPolicy.externalDatabasePeers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
The object store's port: the one in backup.s3.endpoint, else 443 for https (and for AWS, no
endpoint), 80 for http.
*/}}
{{- define "platform.objectStorePort" -}}
{{- $endpoint := .Values.backup.s3.endpoint }}
{{- if not $endpoint }}443
{{- else }}
{{- $url := urlParse $endpoint }}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host) }}
{{- if $port }}{{ $port }}{{ else if eq $url.scheme "http" }}80{{ else }}443{{ end }}
{{- end }}
{{- end }}

{{/*
The S3 target (backup.target s3): its port, to networkPolicy.objectStorePeers (any destination
when empty), then backup.extraEgress verbatim. Nothing for the PVC target.
*/}}
{{- define "platform.objectStoreEgress" -}}
{{- if eq .Values.backup.target "s3" }}
- ports:
    - port: {{ include "platform.objectStorePort" . }}
      protocol: TCP
  {{- with .Values.networkPolicy.objectStorePeers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with .Values.backup.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
