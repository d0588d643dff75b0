{{/*
Access: the API's database login, its bearer tokens and TLS to the database
(docs/decisions/0050-write-authentication.md, 0051-database-roles.md, 0052-database-tls.md).
*/}}

{{/*
Password of the API's login when the chart owns the Secret: the explicit value; else the one the
release Secret already holds for this same login (lookup), so upgrades keep it; else a new one.
A new login name (a rotation) therefore gets a new password, which the migration Job sets.
*/}}
{{- define "platform.appDatabasePassword" -}}
{{- $app := .Values.database.auth.app }}
{{- if $app.password }}
{{- $app.password }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "platform.secretName" .) | default dict }}
{{- $data := $existing.data | default dict }}
{{- $user := index $data "APP_POSTGRES_USER" | default "" | b64dec }}
{{- $stored := index $data "APP_POSTGRES_PASSWORD" | default "" }}
{{- if and $stored (eq $user $app.username) }}
{{- $stored | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Data of the chart's database Secret: the migration role (also the bundled server's superuser,
read by the postgres image) and the API's login. Rendered once per template file: the release
Secret and the pre-upgrade hook's copy must carry the same generated password.
*/}}
{{- define "platform.databaseSecretData" -}}
POSTGRES_USER: {{ .Values.database.auth.username | b64enc | quote }}
POSTGRES_PASSWORD: {{ include "platform.databasePassword" . | b64enc | quote }}
APP_POSTGRES_USER: {{ .Values.database.auth.app.username | b64enc | quote }}
APP_POSTGRES_PASSWORD: {{ include "platform.appDatabasePassword" . | b64enc | quote }}
{{- end }}

{{/* The API's database credentials: its own login's keys, under the names the app reads. */}}
{{- define "platform.apiDatabaseEnv" -}}
- name: POSTGRES_USER
  valueFrom:
    secretKeyRef:
      name: {{ include "platform.secretName" . }}
      key: APP_POSTGRES_USER
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "platform.secretName" . }}
      key: APP_POSTGRES_PASSWORD
{{- end }}

{{/*
Inputs of everything the API pods read from Secrets, hashed into their checksum/secret: a new
login or token rolls them (the retired list does not: it only concerns the migration Job).
*/}}
{{- define "platform.apiSecretChecksum" -}}
{{- dict "database" .Values.database.auth.existingSecret "app" (omit .Values.database.auth.app "retiredUsernames") "tokens" .Values.api.auth | toJson | sha256sum }}
{{- end }}

{{/* What the migration Job does to roles; part of the job-mode Job name, so a change re-runs it. */}}
{{- define "platform.accessChecksum" -}}
{{- with .Values.database.auth.app }}
{{- dict "group" .group "username" .username "retired" .retiredUsernames | toJson | sha256sum | trunc 16 }}
{{- end }}
{{- end }}

{{/* Secret of the accepted bearer tokens. */}}
{{- define "platform.apiTokenSecretName" -}}
{{- .Values.api.auth.existingSecret | default (printf "%s-api-token" (include "platform.fullname" .)) }}
{{- end }}

{{/* The writers' token: the explicit one; else the one stored (lookup); else a new one. */}}
{{- define "platform.apiToken" -}}
{{- if .Values.api.auth.token }}
{{- .Values.api.auth.token }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "platform.apiTokenSecretName" .) | default dict }}
{{- $stored := index ($existing.data | default dict) "token" | default "" }}
{{- if $stored }}
{{- $stored | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Where the API reads its tokens: the token Secret's keys, one file each (API_TOKENS_DIR). */}}
{{- define "platform.apiTokensDir" -}}
/var/run/secrets/platform/api-tokens
{{- end }}

{{/* libpq sslmode: the explicit value, else plaintext inside the namespace, TLS to anything else. */}}
{{- define "platform.databaseSslMode" -}}
{{- .Values.database.sslMode | default (ternary "disable" "require" (eq .Values.database.mode "bundled")) }}
{{- end }}

{{- define "platform.databaseCaDir" -}}
/var/run/secrets/platform/database-ca
{{- end }}

{{/* The CA Secret's volume and mount, for every pod that connects with the ConfigMap's settings. */}}
{{- define "platform.databaseCaVolume" -}}
{{- if .Values.database.tls.caSecret }}
- name: database-ca
  secret:
    secretName: {{ .Values.database.tls.caSecret }}
    items:
      - key: {{ .Values.database.tls.caKey }}
        path: ca.crt
{{- end }}
{{- end }}

{{- define "platform.databaseCaMount" -}}
{{- if .Values.database.tls.caSecret }}
- name: database-ca
  mountPath: {{ include "platform.databaseCaDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Settings of access that the ConfigMap carries (non-secret). */}}
{{- define "platform.accessConfigData" -}}
APP_POSTGRES_GROUP: {{ .Values.database.auth.app.group | quote }}
APP_POSTGRES_RETIRED_USERS: {{ join "," .Values.database.auth.app.retiredUsernames | quote }}
API_AUTH_READS: {{ .Values.api.auth.protectReads | quote }}
{{- if .Values.database.tls.caSecret }}
PGSSLROOTCERT: {{ printf "%s/ca.crt" (include "platform.databaseCaDir" .) | quote }}
{{- end }}
{{- end }}

{{/* Guards on access values that the schema cannot express. */}}
{{- define "platform.validateAccess" -}}
{{- $app := .Values.database.auth.app }}
{{- if has $app.username $app.retiredUsernames }}
{{- fail "database.auth.app.username is also in database.auth.app.retiredUsernames: retire the other login" }}
{{- end }}
{{- if or (eq $app.username $app.group) (eq $app.username .Values.database.auth.username) }}
{{- fail "database.auth.app.username must differ from database.auth.app.group and database.auth.username" }}
{{- end }}
{{- if and (has (include "platform.databaseSslMode" .) (list "verify-ca" "verify-full")) (not .Values.database.tls.caSecret) }}
{{- fail "database.sslMode verify-ca/verify-full needs database.tls.caSecret (the CA that signed the server's certificate)" }}
{{- end }}
{{- with .Values.database.auth.existingSecret }}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace . }}
{{- if and $secret (not (hasKey ($secret.data | default dict) "APP_POSTGRES_PASSWORD")) }}
{{- fail (printf "Secret %s has no APP_POSTGRES_USER/APP_POSTGRES_PASSWORD: add the API's own login to it (CHANGELOG, upgrade notes)" .) }}
{{- end }}
{{- end }}
{{- end }}
