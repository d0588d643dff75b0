{{/* Image references: the API's and PostgreSQL's, by digest or tag. */}}

{{/*
Image reference: a digest pins the image exactly and wins over the tag; the tag defaults to the
chart's appVersion. Call with a dict: (dict "image" .Values.image "default" .Chart.AppVersion).
*/}}
{{- define "platform.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .default .image.tag) }}
{{- end }}
{{- end }}

{{/* The API image (also runs migrations and helm test). */}}
{{- define "platform.image" -}}
{{- include "platform.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) }}
{{- end }}

{{/* The PostgreSQL image (bundled server, and pg_isready for the migration Job's initContainer). */}}
{{- define "platform.postgresImage" -}}
{{- include "platform.imageRef" (dict "image" .Values.database.image "default" "") }}
{{- end }}
