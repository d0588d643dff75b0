{{/* Pod fragments more than one workload uses. */}}

{{/* The restricted-profile security context of containers that run the PostgreSQL image (uid 999). */}}
{{- define "platform.postgresSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
initContainer of the migration Job: waits for PostgreSQL with pg_isready (from the PostgreSQL
image), so the Job neither fails nor burns its backoffLimit while the database starts.
Call with (dict "root" $ "config" <ConfigMap name> "secret" <Secret name>).
*/}}
{{- define "platform.waitForPostgresContainer" -}}
- name: wait-for-postgres
  image: {{ include "platform.postgresImage" .root | quote }}
  imagePullPolicy: {{ .root.Values.database.image.pullPolicy }}
  command:
    - sh
    - -c
    - until pg_isready -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -t 3; do sleep 2; done
  envFrom:
    - configMapRef:
        name: {{ .config }}
    - secretRef:
        name: {{ .secret }}
  securityContext:
    {{- include "platform.postgresSecurityContext" .root | nindent 4 }}
  resources:
    {{- toYaml .root.Values.migration.initResources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- include "platform.databaseCaMount" .root | nindent 4 }}
{{- end }}

{{/*
The API pods' tolerations as a YAML list: the user's, plus NoExecute tolerations of a lost node
(`unreachable`) and of a NotReady one (`not-ready`) for `api.nodeLossTolerationSeconds`. Without
them the DefaultTolerationSeconds admission plugin adds 300 s, so a stateless pod on a dead node
would wait five minutes for its replacement. A user toleration for the same key (or a key-less
`Exists`, which tolerates every taint) replaces the chart's: the taint manager evicts after the
shortest matching tolerationSeconds, so both together would silently ignore the user's.
*/}}
{{- define "platform.apiTolerations" -}}
{{- $tolerations := list }}
{{- $covered := list }}
{{- range .Values.api.tolerations }}
{{- $tolerations = append $tolerations . }}
{{- if .key }}
{{- $covered = append $covered .key }}
{{- else if eq (.operator | default "") "Exists" }}
{{- $covered = concat $covered (list "node.kubernetes.io/unreachable" "node.kubernetes.io/not-ready") }}
{{- end }}
{{- end }}
{{- $seconds := .Values.api.nodeLossTolerationSeconds }}
{{- if not (kindIs "invalid" $seconds) }}
{{- range list "node.kubernetes.io/unreachable" "node.kubernetes.io/not-ready" }}
{{- if not (has . $covered) }}
{{- $tolerations = append $tolerations (dict "key" . "operator" "Exists" "effect" "NoExecute" "tolerationSeconds" (int $seconds)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $tolerations }}
{{- end }}
