{{/*
Backups and the install-time restore (docs/decisions/0012, 0015). The database-side argv are
app/backup/pgtools.py's, verbatim: tests/chart/test_backup_argv.py compares them.
*/}}

{{- define "platform.backupName" -}}
{{- printf "%s-backup" (include "platform.fullname" .) }}
{{- end }}

{{/* The claim backups go to: the user's existing claim, or the chart's own (kept on uninstall). */}}
{{- define "platform.backupClaimName" -}}
{{- .Values.backup.pvc.existingClaim | default (include "platform.backupName" .) }}
{{- end }}

{{/* The work directory the two images share (an emptyDir), and the PVC target's mount. */}}
{{- define "platform.backupWorkDir" -}}/work{{- end }}
{{- define "platform.backupDir" -}}/backups{{- end }}

{{/*
BACKUP_* settings of platform-backup (app/backup/settings.py) for the configured target. Shared
by the backup's upload and the restore's fetch, so both read the same place.
*/}}
{{- define "platform.backupEnv" -}}
{{- $b := .Values.backup }}
- name: BACKUP_TARGET
  value: {{ ternary "filesystem" "s3" (eq $b.target "pvc") | quote }}
{{- if eq $b.target "pvc" }}
- name: BACKUP_DIR
  value: {{ include "platform.backupDir" . | quote }}
{{- else }}
{{- with $b.s3.endpoint }}
- name: BACKUP_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: BACKUP_S3_BUCKET
  value: {{ $b.s3.bucket | quote }}
- name: BACKUP_S3_PREFIX
  value: {{ $b.s3.prefix | quote }}
- name: BACKUP_S3_REGION
  value: {{ $b.s3.region | quote }}
- name: BACKUP_S3_VIRTUAL_HOSTED_STYLE
  value: {{ $b.s3.virtualHostedStyle | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $b.s3.existingSecret }}
      key: {{ $b.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $b.s3.existingSecret }}
      key: {{ $b.s3.secretAccessKeyKey }}
{{- end }}
- name: BACKUP_KEEP_LAST
  value: {{ include "platform.number" $b.retention.keepLast | quote }}
{{- if not (kindIs "invalid" $b.retention.maxAgeDays) }}
- name: BACKUP_MAX_AGE_DAYS
  value: {{ include "platform.number" $b.retention.maxAgeDays | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- end }}

{{/*
libpq's environment for the database-image containers, from the ConfigMap/Secret that envFrom
injects ($(VAR) is expanded by the kubelet). TZ=UTC: the archive header's times are parsed as UTC.
*/}}
{{- define "platform.libpqEnv" -}}
- name: PGHOST
  value: $(POSTGRES_HOST)
- name: PGPORT
  value: $(POSTGRES_PORT)
- name: PGDATABASE
  value: $(POSTGRES_DB)
- name: PGUSER
  value: $(POSTGRES_USER)
- name: PGPASSWORD
  value: $(POSTGRES_PASSWORD)
- name: PGSSLMODE
  value: $(POSTGRES_SSLMODE)
- name: PGCONNECT_TIMEOUT
  value: "10"
- name: PGAPPNAME
  value: platform-backup
- name: TZ
  value: UTC
{{- end }}

{{/* Volumes of the target: the claim for pvc, nothing for s3. */}}
{{- define "platform.backupTargetVolume" -}}
{{- if eq .Values.backup.target "pvc" }}
- name: backups
  persistentVolumeClaim:
    claimName: {{ include "platform.backupClaimName" . }}
{{- end }}
{{- end }}

{{- define "platform.backupTargetMount" -}}
{{- if eq .Values.backup.target "pvc" }}
- name: backups
  mountPath: {{ include "platform.backupDir" . }}
{{- end }}
{{- end }}

{{/*
One container of the database image running one argv. Call with
(dict "root" $ "name" <name> "argv" <list> "config" <ConfigMap> "secret" <Secret>).
*/}}
{{- define "platform.pgToolContainer" -}}
- name: {{ .name }}
  image: {{ include "platform.postgresImage" .root | quote }}
  imagePullPolicy: {{ .root.Values.database.image.pullPolicy }}
  command:
    {{- toYaml .argv | nindent 4 }}
  envFrom:
    - configMapRef:
        name: {{ .config }}
    - secretRef:
        name: {{ .secret }}
  env:
    {{- include "platform.libpqEnv" .root | nindent 4 }}
  securityContext:
    {{- include "platform.postgresSecurityContext" .root | nindent 4 }}
  resources:
    {{- toYaml .root.Values.backup.dumpResources | nindent 4 }}
  volumeMounts:
    - name: work
      mountPath: {{ include "platform.backupWorkDir" .root }}
    - name: tmp
      mountPath: /tmp
    {{- include "platform.databaseCaMount" .root | nindent 4 }}
{{- end }}

{{/*
Before the dump: wait up to backup.waitForDatabaseSeconds for the database to accept a connection.
A new pod's address reaches the database's NetworkPolicy a moment after the pod starts on some
enforcers (kube-router issue 1652: Jobs refused for their first seconds), and a pg_dump started
in that window fails. Exits 0 either way: when the database stays unreachable, pg_dump runs and
its own error is what the Job's log and events show.
*/}}
{{- define "platform.backupWaitContainer" -}}
{{- $seconds := int .root.Values.backup.waitForDatabaseSeconds }}
{{- $script := printf `end=$(( $(date +%%s) + %d )); until pg_isready -t 2; do [ "$(date +%%s)" -lt "$end" ] || { echo "the database did not accept connections within %d s; pg_dump reports why" >&2; exit 0; }; sleep 1; done` $seconds $seconds }}
{{- include "platform.pgToolContainer" (dict "root" .root "name" "wait-for-database" "argv" (list "sh" "-c" $script) "config" .config "secret" .secret) }}
{{- end }}

{{/* pgtools.dump_commands(Path("/work")): pg_dump, then the two listings upload reads. */}}
{{- define "platform.backupDumpContainers" -}}
{{- $w := include "platform.backupWorkDir" .root }}
{{- $dump := printf "%s/db.dump" $w }}
{{- $steps := list
  (list "pg-dump" (list "pg_dump" "--format=custom" "--quote-all-identifiers" "--lock-wait-timeout=60s" (printf "--file=%s" $dump)))
  (list "pg-toc" (list "pg_restore" "--list" (printf "--file=%s/db.toc" $w) $dump))
  (list "pg-revision" (list "pg_restore" "--data-only" "--table=alembic_version" "--table=schema_revisions" (printf "--file=%s/db.revision.sql" $w) $dump)) }}
{{- range $steps }}
{{ include "platform.pgToolContainer" (dict "root" $.root "name" (index . 0) "argv" (index . 1) "config" $.config "secret" $.secret) }}
{{- end }}
{{- end }}

{{/*
The restore, as two initContainers of the install's migration Job (after wait-for-postgres,
before migrate): fetch (refusals, download, checksum) in the app image, then
pgtools.restore_command(Path("/work"), "$(POSTGRES_DB)", force=restore.force) in the database image.
Call with (dict "root" $ "config" <ConfigMap> "secret" <Secret>).
*/}}
{{- define "platform.restoreContainers" -}}
{{- $root := .root }}
{{- $r := $root.Values.restore }}
{{- $w := include "platform.backupWorkDir" $root }}
- name: restore-fetch
  image: {{ include "platform.image" $root | quote }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command:
    {{- toYaml (concat (list "platform-backup" "fetch" $w "--backup" $r.from) (ternary (list "--force") (list) $r.force)) | nindent 4 }}
  envFrom:
    - configMapRef:
        name: {{ .config }}
    - secretRef:
        name: {{ .secret }}
  env:
    {{- include "platform.backupEnv" $root | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.api.securityContext | nindent 4 }}
  resources:
    {{- toYaml $root.Values.backup.resources | nindent 4 }}
  volumeMounts:
    - name: work
      mountPath: {{ $w }}
    - name: tmp
      mountPath: /tmp
    {{- include "platform.backupTargetMount" $root | nindent 4 }}
    {{- include "platform.databaseCaMount" $root | nindent 4 }}
{{ include "platform.pgToolContainer" (dict "root" $root "name" "restore" "argv" (concat (list "pg_restore" "--single-transaction" "--exit-on-error" "--no-owner" "--no-privileges") (ternary (list "--clean" "--if-exists") (list) $r.force) (list "--dbname=$(POSTGRES_DB)" (printf "%s/db.dump" $w))) "config" .config "secret" .secret) }}
{{- end }}

{{/* Volumes the restore adds to the migration pod. */}}
{{- define "platform.restoreVolumes" -}}
- name: work
  emptyDir:
    sizeLimit: {{ .Values.backup.workSizeLimit }}
{{ include "platform.backupTargetVolume" . }}
{{- end }}

{{/*
Whether the install's migration Job must consume the chart's backup claim: a claim of a
WaitForFirstConsumer StorageClass stays Pending until a pod uses it, and `helm install --wait`
waits for every claim to be Bound, so without a consumer at install it would time out.
*/}}
{{- define "platform.bindsBackupClaim" -}}
{{- if and .Release.IsInstall (or .Values.backup.enabled .Values.restore.from) (eq .Values.backup.target "pvc") (not .Values.backup.pvc.existingClaim) }}true{{ end }}
{{- end }}

{{/* Whether this render restores: restore.from set, and an install (never `helm upgrade`). */}}
{{- define "platform.restoring" -}}
{{- if and .Values.restore.from .Release.IsInstall }}true{{ end }}
{{- end }}

{{/* The leading digits of an image tag (its major), or "" when it has none (digest only). */}}
{{- define "platform.postgresMajorOf" -}}
{{- $ref := . | splitList "@" | first }}
{{- $parts := splitList "/" $ref }}
{{- $last := last $parts }}
{{- if contains ":" $last }}
{{- regexFind "^[0-9]+" (last (splitList ":" $last)) }}
{{- end }}
{{- end }}

{{/*
Refuse a change of PostgreSQL major on an existing data directory (docs/decisions/0015): the
running StatefulSet's image against database.image; and a new claim name, which the StatefulSet's
immutable claim template cannot take (the API server would refuse it with a generic message). lookup is empty without a cluster
(helm template, --dry-run, Argo CD): the image's pg-version-guard is the backstop there.
*/}}
{{- define "platform.validateDatabaseMajor" -}}
{{- if eq .Values.database.mode "bundled" }}
{{- $sts := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "platform.postgresName" .) }}
{{- if $sts }}
{{- $running := "" }}
{{- range $sts.spec.template.spec.containers }}
{{- if eq .name "postgres" }}{{ $running = .image }}{{ end }}
{{- end }}
{{- $old := include "platform.postgresMajorOf" $running }}
{{- $new := include "platform.postgresMajorOf" (printf "%s:%s" .Values.database.image.repository .Values.database.image.tag) }}
{{- if and $old $new (ne $old $new) }}
{{- fail (printf "database.image would change PostgreSQL %s to %s on the existing data directory of StatefulSet %s, which %s cannot open: keep the %s image and follow docs/runbooks/postgres-major-upgrade.md (backup, new claim, restore)" $old $new (include "platform.postgresName" .) $new $old) }}
{{- end }}
{{- range $sts.spec.volumeClaimTemplates }}
{{- $want := include "platform.dataVolumeName" $ }}
{{- if and $.Values.database.bundled.persistence.enabled (ne .metadata.name $want) }}
{{- fail (printf "database.bundled.persistence.claimName %s differs from %s, the claim template of the existing StatefulSet %s, which cannot change: keep %s, or follow docs/runbooks/postgres-major-upgrade.md (uninstall keeps the claims, then install with the new name)" $want .metadata.name (include "platform.postgresName" $) .metadata.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
