{{/*
Chart name, overridable. Truncated to 63 characters: label values and DNS-1123 names are capped
there, and a longer name fails at apply time rather than at render time.
*/}}
{{- define "platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: the release name, plus the chart name unless the release name
already contains it (release "platform" gives "platform-api", not "platform-platform-api").
Truncated to 40 characters so the longest suffix ("-postgres-headless") still fits in 63.
*/}}
{{- define "platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version for the helm.sh/chart label ("+" is not allowed in label values).
*/}}
{{- define "platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource's metadata. They may change between versions (chart version, app
version), so they are never used in selectors.
*/}}
{{- define "platform.labels" -}}
helm.sh/chart: {{ include "platform.chart" . }}
{{ include "platform.podLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/*
Labels of pod templates: only what no chart release changes. helm.sh/chart and
app.kubernetes.io/version stay on the objects (platform.labels), not on their pods: a new chart
version alone must neither restart PostgreSQL nor patch a job-mode Job, whose template is immutable.
*/}}
{{- define "platform.podLabels" -}}
{{ include "platform.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: platform
{{- end }}

{{/*
Selector labels: only name and instance (a component label is added per workload). Selectors of
Deployments and StatefulSets are immutable, so nothing that can change between upgrades belongs here.
*/}}
{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount used by the API, migration and test pods.
*/}}
{{- define "platform.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "platform.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

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

{{/*
"true" when this render migrates through the pre-upgrade hook (hook mode, an upgrade), else empty:
the hook Job, its ConfigMap and Secret are rendered exactly then, the plain Job exactly otherwise.
Under `helm template` (Argo CD) .Release.IsInstall is always true, so hook mode renders the plain
Job there (ADR 0020).
*/}}
{{- define "platform.migrationRunsAsHook" -}}
{{- if and (eq .Values.migration.mode "hook") (not .Release.IsInstall) }}true{{ end }}
{{- end }}

{{/* Name of the pre-upgrade hook Job and of its own ConfigMap/Secret (hook mode). */}}
{{- define "platform.migrationHookName" -}}
{{- printf "%s-migration" (include "platform.fullname" .) }}
{{- end }}

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
Pod spec of a migration Job (plain or hook). Call with (dict "root" $ "config" <name> "secret" <name>).
*/}}
{{- define "platform.migrationPodSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "platform.serviceAccountName" $root }}
automountServiceAccountToken: false
# A failed pod is replaced by the Job controller (backoffLimit), not restarted in place.
restartPolicy: Never
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.api.podSecurityContext | nindent 2 }}
initContainers:
  {{- include "platform.waitForPostgresContainer" . | nindent 2 }}
  {{- if include "platform.restoring" $root }}
  {{- include "platform.restoreContainers" . | trim | nindent 2 }}
  {{- end }}
containers:
  - name: migrate
    image: {{ include "platform.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    # Waits for the database, takes the advisory lock, upgrades to head in one transaction.
    command: ["platform-migrate", "upgrade"]
    envFrom:
      - configMapRef:
          name: {{ .config }}
      - secretRef:
          name: {{ .secret }}
    securityContext:
      {{- toYaml $root.Values.api.securityContext | nindent 6 }}
    resources:
      {{- toYaml $root.Values.migration.resources | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- include "platform.databaseCaMount" $root | nindent 6 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- include "platform.databaseCaVolume" $root | nindent 2 }}
  {{- if include "platform.restoring" $root }}
  {{- include "platform.restoreVolumes" $root | trim | nindent 2 }}
  {{- else if include "platform.bindsBackupClaim" $root }}
  {{- include "platform.backupTargetVolume" $root | trim | nindent 2 }}
  {{- end }}
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
