{{/*
Whether to render a Prometheus Operator object: its API must be served by the cluster (so an
install without the operator never fails with "no matches for kind"), unless `force` is set
(`helm template` for GitOps tools that do not pass the cluster's API versions).
Call with (dict "root" . "kind" "ServiceMonitor" "values" .Values.metrics.serviceMonitor).
*/}}
{{- define "platform.monitoringEnabled" -}}
{{- if and .values.enabled (or .values.force (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind))) -}}
true
{{- end }}
{{- end }}

{{/*
The alert rules, as Prometheus rule groups. Rendered into the PrometheusRule and, by
`make monitoring-rules`, into k8s/monitoring/platform-alerts.yaml for Prometheus servers without
the operator (tests/chart/test_monitoring.py keeps the two identical). Series are selected by
`job`, which a ServiceMonitor, a PodMonitor and the documented scrape config all set to the API
Service's name, and aggregated by namespace, so two releases never share an alert.
*/}}
{{- define "platform.alertRules" -}}
{{- $job := printf "job=%q" (include "platform.apiName" .) }}
{{- $a := .Values.metrics.prometheusRule.alerts }}
{{- $runbooks := trimSuffix "/" .Values.metrics.prometheusRule.runbookBaseUrl }}
- name: platform-api
  rules:
    - alert: PlatformApiDown
      expr: 'max by (namespace) (up{ {{- $job -}} }) == 0'
      for: {{ $a.apiDownFor }}
      labels:
        severity: critical
      annotations:
        summary: 'No API pod in {{ "{{" }} $labels.namespace {{ "}}" }} answers its metrics scrape.'
        runbook_url: {{ printf "%s/api-down.md" $runbooks }}
    - alert: PlatformApiAbsent
      expr: 'absent(up{ {{- $job -}} })'
      for: {{ $a.apiDownFor }}
      labels:
        severity: critical
      annotations:
        summary: 'Prometheus scrapes no API pod at all (no target, or none discovered).'
        runbook_url: {{ printf "%s/api-down.md" $runbooks }}
    - alert: PlatformDatabaseUnavailable
      expr: 'max by (namespace) (platform_db_ready{ {{- $job -}} }) == 0'
      for: {{ $a.databaseUnavailableFor }}
      labels:
        severity: critical
      annotations:
        summary: 'Every API pod in {{ "{{" }} $labels.namespace {{ "}}" }} finds the database unavailable or its schema incompatible.'
        runbook_url: {{ printf "%s/database-unavailable.md" $runbooks }}
    - alert: PlatformHighErrorRatio
      expr: >-
        sum by (namespace) (rate(http_requests_total{ {{- $job -}} ,status=~"5.."}[5m]))
        / sum by (namespace) (rate(http_requests_total{ {{- $job -}} }[5m])) > {{ $a.errorRatio }}
      for: {{ $a.errorRatioFor }}
      labels:
        severity: warning
      annotations:
        summary: 'More than {{ mulf $a.errorRatio 100 }} % of API requests in {{ "{{" }} $labels.namespace {{ "}}" }} fail with 5xx.'
        runbook_url: {{ printf "%s/high-error-ratio.md" $runbooks }}
    - alert: PlatformHighLatency
      expr: >-
        histogram_quantile(0.99, sum by (namespace, le)
        (rate(http_request_duration_seconds_bucket{ {{- $job -}} ,route!~"/health|/db-check|/metrics"}[5m])))
        > {{ $a.latencyP99Seconds }}
      for: {{ $a.latencyFor }}
      labels:
        severity: warning
      annotations:
        summary: 'p99 latency of API requests in {{ "{{" }} $labels.namespace {{ "}}" }} is above {{ $a.latencyP99Seconds }} s.'
        runbook_url: {{ printf "%s/high-latency.md" $runbooks }}
    - alert: PlatformDatabasePoolSaturated
      expr: 'max by (namespace, pod) (db_requests_waiting{ {{- $job -}} }) > 0'
      for: {{ $a.poolSaturatedFor }}
      labels:
        severity: warning
      annotations:
        summary: 'Requests in {{ "{{" }} $labels.pod {{ "}}" }} keep waiting for a database connection.'
        runbook_url: {{ printf "%s/pool-saturated.md" $runbooks }}
    - alert: PlatformMigrationFailed
      expr: 'max by (namespace, job_name) (kube_job_failed{condition="true",job_name=~{{ printf "%s-migration.*" (include "platform.fullname" .) | quote }}}) == 1'
      labels:
        severity: critical
      annotations:
        summary: 'Migration Job {{ "{{" }} $labels.job_name {{ "}}" }} failed (needs kube-state-metrics).'
        runbook_url: {{ printf "%s/migration-failed.md" $runbooks }}
{{- if .Values.backup.enabled }}
{{- /*
The backup CronJob's runs, from kube-state-metrics (kube_job_* by namespace and job_name,
kube_cronjob_* by namespace and cronjob). Every operand is aggregated first, so a second
kube-state-metrics replica cannot make a join many-to-many. A Job counts as a run when the
CronJob owns it, which `kubectl create job --from=cronjob/...` sets too. The CronJob's last
success stands in as 0 until there is one.
*/}}
{{- $cronjob := printf "cronjob=%q" (include "platform.backupName" .) }}
{{- $owned := printf "owner_kind=\"CronJob\",owner_name=%q" (include "platform.backupName" .) }}
{{- $maxAge := include "platform.number" $a.backupMaxAgeSeconds }}
- name: platform-backup
  rules:
    - alert: PlatformBackupFailed
      expr: >-
        max by (namespace, job_name) (kube_job_status_start_time)
        * max by (namespace, job_name) (kube_job_failed{condition="true"} == 1)
        * max by (namespace, job_name) (kube_job_owner{ {{- $owned -}} })
        > on (namespace) group_left ()
        (max by (namespace) (kube_cronjob_status_last_successful_time{ {{- $cronjob -}} })
        or max by (namespace) (kube_cronjob_created{ {{- $cronjob -}} }) * 0)
      labels:
        severity: critical
      annotations:
        summary: 'Backup Job {{ "{{" }} $labels.job_name {{ "}}" }} in {{ "{{" }} $labels.namespace {{ "}}" }} failed and no backup has succeeded since it started (needs kube-state-metrics).'
        runbook_url: {{ printf "%s/backup-failed.md" $runbooks }}
    - alert: PlatformBackupTooOld
      expr: >-
        time() - max by (namespace) (kube_cronjob_status_last_successful_time{ {{- $cronjob -}} }) > {{ $maxAge }}
        or time() - max by (namespace) (kube_cronjob_created{ {{- $cronjob -}} }) > {{ $maxAge }}
        unless on (namespace) kube_cronjob_status_last_successful_time{ {{- $cronjob -}} }
      for: {{ $a.backupTooOldFor }}
      labels:
        severity: warning
      annotations:
        summary: 'No backup in {{ "{{" }} $labels.namespace {{ "}}" }} has succeeded for more than {{ $maxAge }} s (needs kube-state-metrics).'
        runbook_url: {{ printf "%s/backup-failed.md" $runbooks }}
{{- end }}
{{- end }}
