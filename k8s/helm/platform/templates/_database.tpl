{{/* The database the pods connect to, and its credentials Secret's password and checksum. */}}

{{/* Host the app connects to: the bundled client Service, or the external server. */}}
{{- define "platform.databaseHost" -}}
{{- if eq .Values.database.mode "bundled" }}
{{- include "platform.postgresName" . }}
{{- else }}
{{- required "database.host is required when database.mode is external" .Values.database.host }}
{{- end }}
{{- end }}

{{/*
Database password when the chart owns the Secret. Order:
1. database.auth.password, when given;
2. the password already stored in the release's Secret (lookup), so upgrades never rotate it;
3. a new random one, but only if no bundled data volume exists yet: a new password cannot open a
   database that was initialised with the old one (e.g. the Secret was deleted, the PVC kept).
`lookup` returns nothing under `helm template`, `--dry-run` and Argo CD, so rule 2 only works with
helm install/upgrade against a cluster: GitOps users set a password or an existingSecret.
*/}}
{{- define "platform.databasePassword" -}}
{{- if .Values.database.auth.password }}
{{- .Values.database.auth.password }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "platform.secretName" .) }}
{{- $stored := "" }}
{{- if $existing }}
{{- $stored = index ($existing.data | default dict) "POSTGRES_PASSWORD" | default "" }}
{{- end }}
{{- if $stored }}
{{- $stored | b64dec }}
{{- else }}
{{- $claim := include "platform.dataClaimName" . }}
{{- if and (eq .Values.database.mode "bundled") .Values.database.bundled.persistence.enabled (lookup "v1" "PersistentVolumeClaim" .Release.Namespace $claim) }}
{{- fail (printf "PVC %s already holds a database but its password Secret is gone: set database.auth.password (or existingSecret) to the password that database uses" $claim) }}
{{- end }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Inputs of the Secret, hashed into the API pods' checksum/secret annotation. Hashing the inputs
rather than the rendered Secret keeps the checksum stable when the password is generated (a random
value would change it on every `helm template`).
*/}}
{{- define "platform.secretChecksum" -}}
{{- dict "existingSecret" .Values.database.auth.existingSecret "username" .Values.database.auth.username "password" .Values.database.auth.password | toJson | sha256sum }}
{{- end }}
