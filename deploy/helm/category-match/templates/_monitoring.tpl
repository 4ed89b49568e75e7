{{/* Helpers of prometheusrule.yaml. */}}

{{/* Labels of one alert: its severity, then metrics.prometheusRule.alertLabels.
Args: dict "pr" <metrics.prometheusRule> "alert" <its entry under alerts>. */}}
{{- define "catmatch.alertLabels" -}}
severity: {{ .alert.severity | quote }}
{{- range $key, $value := .pr.alertLabels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* The runbook_url annotation (none when metrics.prometheusRule.runbookUrl is empty).
Args: dict "pr" <metrics.prometheusRule> "alert" <alert name>. */}}
{{- define "catmatch.runbook" -}}
{{- with .pr.runbookUrl }}runbook_url: {{ printf "%s#%s" . (lower $.alert) | quote }}{{ end }}
{{- end }}
