{{/* Names of the chart's resources, defined once so templates and tests agree. */}}

{{- define "platform.apiName" -}}
{{- printf "%s-api" (include "platform.fullname" .) }}
{{- end }}

{{/*
The data volume's name in the StatefulSet (its claim template's) and the claim of pod 0, which the
StatefulSet controller names <template>-<statefulset>-0.
*/}}
{{- define "platform.dataVolumeName" -}}
{{- .Values.database.bundled.persistence.claimName | default "data" }}
{{- end }}

{{- define "platform.dataClaimName" -}}
{{- printf "%s-%s-0" (include "platform.dataVolumeName" .) (include "platform.postgresName" .) }}
{{- end }}

{{- define "platform.postgresName" -}}
{{- printf "%s-postgres" (include "platform.fullname" .) }}
{{- end }}

{{- define "platform.configMapName" -}}
{{- printf "%s-config" (include "platform.fullname" .) }}
{{- end }}

{{/*
Secret holding POSTGRES_USER and POSTGRES_PASSWORD: the user's existingSecret, or the chart's own.
*/}}
{{- define "platform.secretName" -}}
{{- if .Values.database.auth.existingSecret }}
{{- .Values.database.auth.existingSecret }}
{{- else }}
{{- printf "%s-db" (include "platform.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Name of the plain migration Job: derived from what it runs (image reference + runId + the roles it
makes, platform.accessChecksum), so a new image or login is a new Job (Jobs are immutable:
patching one fails with "field is immutable") and an unchanged image is the same,
already-completed Job (nothing re-runs on a no-op sync).
*/}}
{{- define "platform.migrationJobName" -}}
{{- $hash := printf "%s|%s|%s" (include "platform.image" .) .Values.migration.runId (include "platform.accessChecksum" .) | sha256sum | trunc 10 }}
{{- printf "%s-migration-%s" (include "platform.fullname" .) $hash }}
{{- end }}

{{/* Name of the pre-upgrade hook Job and of its own ConfigMap/Secret (hook mode). */}}
{{- define "platform.migrationHookName" -}}
{{- printf "%s-migration" (include "platform.fullname" .) }}
{{- end }}
