{{/* Render-time refusals of what the application would refuse at start-up (values.schema.json holds the single-field bounds). */}}

{{/*
Keys the ConfigMap and Secret inject with envFrom. extraEnv may not repeat them: an explicit env
entry silently wins over envFrom, so a stray POSTGRES_HOST would bypass the chart's settings.
*/}}
{{- define "platform.validateExtraEnv" -}}
{{- $managed := list "POSTGRES_USER" "POSTGRES_PASSWORD" "DATABASE_URL" "API_TOKENS_DIR" }}
{{- range $key, $_ := (include "platform.configData" . | fromYaml) }}
{{- $managed = append $managed $key }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name $managed }}
{{- fail (printf "extraEnv sets %s, which the chart already injects with envFrom (an explicit env entry would silently override it): change it through values instead" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Guards on values the schema cannot express.
*/}}
{{- define "platform.validate" -}}
{{- include "platform.validateExtraEnv" . }}
{{- if le (float64 .Values.api.terminationGracePeriodSeconds) (addf .Values.api.preStopSleepSeconds .Values.config.shutdownTimeoutSeconds) }}
{{- fail "api.terminationGracePeriodSeconds must exceed api.preStopSleepSeconds + config.shutdownTimeoutSeconds, or pods are killed mid-drain" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" }}
{{- end }}
{{- include "platform.validateConfig" . }}
{{- include "platform.validateDatabaseMajor" . }}
{{- end }}

{{/*
The cross-field rules the API enforces at start-up (app/config.py ORDERED_BOUNDS and the
placeholder-password rule): refused here, or the install "succeeds" and every pod crash-loops.
tests/chart/test_settings_bounds.py derives its cases from the settings class.
*/}}
{{- define "platform.validateConfig" -}}
{{- $c := .Values.config }}
{{- $rules := list
  (list "dbPoolMinSize" "dbPoolMaxSize" false)
  (list "dbLockTimeoutSeconds" "dbStatementTimeoutSeconds" false)
  (list "dbPoolTimeoutSeconds" "requestTimeoutSeconds" true)
  (list "dbStatementTimeoutSeconds" "requestTimeoutSeconds" true)
  (list "migrateDdlLockTimeoutSeconds" "migrateLockTimeoutSeconds" false) }}
{{- range $rules }}
{{- $low := index $c (index . 0) | float64 }}
{{- $high := index $c (index . 1) | float64 }}
{{- if or (gt $low $high) (and (index . 2) (eq $low $high)) }}
{{- fail (printf "config.%s must %s config.%s" (index . 0) (ternary "be below" "not exceed" (index . 2)) (index . 1)) }}
{{- end }}
{{- end }}
{{- $placeholders := list "changeme" "change-me" "password" "postgres" "secret" }}
{{- if and (ne $c.appEnv "development") (has (lower .Values.database.auth.password) $placeholders) }}
{{- fail (printf "database.auth.password is a placeholder, which the API refuses when config.appEnv is %s: set a real one, or leave it empty to generate one" $c.appEnv) }}
{{- end }}
{{- end }}
