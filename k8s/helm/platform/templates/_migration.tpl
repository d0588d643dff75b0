{{/* The migration Job's mode and pod spec, shared by the plain Job and the pre-upgrade hook. */}}

{{/*
"true" when this render migrates through the pre-upgrade hook (hook mode, an upgrade), else empty:
the hook Job, its ConfigMap and Secret are rendered exactly then, the plain Job exactly otherwise.
Under `helm template` (Argo CD) .Release.IsInstall is always true, so hook mode renders the plain
Job there (ADR 0020).
*/}}
{{- define "platform.migrationRunsAsHook" -}}
{{- if and (eq .Values.migration.mode "hook") (not .Release.IsInstall) }}true{{ end }}
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
