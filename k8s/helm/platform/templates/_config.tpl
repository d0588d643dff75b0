{{/* The non-secret settings every pod reads (the ConfigMap's data). */}}

{{/*
A number as the API parses it: whole numbers without a decimal point or exponent. Helm reads
numbers as float64, and `quote` would print 67108864 as "6.7108864e+07", which no integer
setting accepts.
*/}}
{{- define "platform.number" -}}
{{- if eq (float64 .) (float64 (int64 .)) }}{{ int64 . }}{{ else }}{{ float64 . }}{{ end }}
{{- end }}

{{/* Data of the ConfigMap; shared by the ConfigMap, the migration hook's ConfigMap and the checksum. */}}
{{- define "platform.configData" -}}
APP_ENV: {{ .Values.config.appEnv | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
POSTGRES_HOST: {{ include "platform.databaseHost" . | quote }}
POSTGRES_PORT: {{ .Values.database.port | quote }}
POSTGRES_DB: {{ .Values.database.name | quote }}
POSTGRES_SSLMODE: {{ include "platform.databaseSslMode" . | quote }}
DB_POOL_MIN_SIZE: {{ include "platform.number" .Values.config.dbPoolMinSize | quote }}
DB_POOL_MAX_SIZE: {{ include "platform.number" .Values.config.dbPoolMaxSize | quote }}
DB_POOL_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.dbPoolTimeoutSeconds | quote }}
DB_CONNECT_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.dbConnectTimeoutSeconds | quote }}
DB_CHECK_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.dbCheckTimeoutSeconds | quote }}
DB_CHECK_INTERVAL_SECONDS: {{ include "platform.number" .Values.config.dbCheckIntervalSeconds | quote }}
DB_STATEMENT_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.dbStatementTimeoutSeconds | quote }}
DB_LOCK_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.dbLockTimeoutSeconds | quote }}
HTTP_MAX_BODY_BYTES: {{ include "platform.number" .Values.config.httpMaxBodyBytes | quote }}
HTTP_MAX_HEADER_BYTES: {{ include "platform.number" .Values.config.httpMaxHeaderBytes | quote }}
HTTP_HEADER_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.httpHeaderTimeoutSeconds | quote }}
HTTP_BODY_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.httpBodyTimeoutSeconds | quote }}
HTTP_KEEPALIVE_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.httpKeepaliveTimeoutSeconds | quote }}
REQUEST_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.requestTimeoutSeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.shutdownTimeoutSeconds | quote }}
MIGRATE_WAIT_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.migrateWaitTimeoutSeconds | quote }}
MIGRATE_LOCK_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.migrateLockTimeoutSeconds | quote }}
MIGRATE_DDL_LOCK_TIMEOUT_SECONDS: {{ include "platform.number" .Values.config.migrateDdlLockTimeoutSeconds | quote }}
{{ include "platform.accessConfigData" . }}
{{- end }}
