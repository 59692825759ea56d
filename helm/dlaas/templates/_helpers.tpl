{{/* Labels of every object the dlaas chart adds. */}}
{{- define "dlaas.labels" -}}
app.kubernetes.io/name: dlaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
Checks what the values must agree on, with a sentence for the admin: the hub takes the IAM client
secret from jupyterhub.hub.extraEnv.DLAAS_IAM_CLIENT_SECRET, which must name dlaas.iam.existingSecret.
*/}}
{{- define "dlaas.checks" -}}
{{- $iam := .Values.dlaas.iam -}}
{{- $env := dig "hub" "extraEnv" "DLAAS_IAM_CLIENT_SECRET" "valueFrom" "secretKeyRef" dict .Values.jupyterhub -}}
{{- if or (ne (get $env "name" | toString) ($iam.existingSecret | toString)) (ne (get $env "key" | toString) ($iam.secretKey | toString)) -}}
{{- fail (printf "dlaas: the hub reads the IAM client secret from jupyterhub.hub.extraEnv.DLAAS_IAM_CLIENT_SECRET (Secret %q, key %q), but dlaas.iam names Secret %q, key %q: set both to the same Secret." (get $env "name" | toString) (get $env "key" | toString) ($iam.existingSecret | toString) ($iam.secretKey | toString)) -}}
{{- end -}}
{{- if not (dig "hub" "extraConfig" "dlaas" "" .Values.jupyterhub) -}}
{{- fail "dlaas: jupyterhub.hub.extraConfig.dlaas is gone; it loads dlaas's hub configuration. Keep it as the chart's values.yaml has it." -}}
{{- end -}}
{{- end }}
