{{- define "sillok.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sillok.labels" -}}
app.kubernetes.io/name: sillok
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sillok.selector" -}}
app.kubernetes.io/name: sillok
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sillok.image" -}}
{{- $registry := .root.Values.global.imageRegistry -}}
{{- if $registry }}{{ printf "%s/%s:%s" $registry .image.repository .image.tag }}{{ else }}{{ printf "%s:%s" .image.repository .image.tag }}{{ end -}}
{{- end -}}

{{- define "sillok.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.externalSecret.enabled -}}
{{- printf "%s-secrets" (include "sillok.fullname" .) -}}
{{- else -}}
{{- fail "secrets.existingSecret or secrets.externalSecret.enabled is required: the chart has no default passwords" -}}
{{- end -}}
{{- end -}}

{{- define "sillok.llmBaseUrl" -}}
{{- if .Values.endpoints.llmBaseUrl -}}{{ .Values.endpoints.llmBaseUrl }}
{{- else if .Values.vllm.enabled -}}{{ printf "http://%s-vllm:8000/v1" (include "sillok.fullname" .) }}
{{- end -}}
{{- end -}}

{{- define "sillok.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end -}}

{{/* The pod spec every Sillok process shares; .args is the command line, .component the tier. */}}
{{- define "sillok.podSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "sillok.fullname" $root }}
automountServiceAccountToken: false
securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.global.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tier.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tier.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tier.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "sillok.image" (dict "root" $root "image" $root.Values.image) }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    {{- with .command }}
    command: {{- toYaml . | nindent 6 }}
    {{- end }}
    args: {{- toYaml .args | nindent 6 }}
    envFrom:
      - configMapRef: {name: {{ include "sillok.fullname" $root }}}
    securityContext: {{- include "sillok.containerSecurity" $root | nindent 6 }}
    resources: {{- toYaml .tier.resources | nindent 6 }}
    {{- with .ports }}
    ports: {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .probes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    volumeMounts:
      - {name: secrets, mountPath: /run/secrets/sillok, readOnly: true}
      - {name: files, mountPath: /var/lib/sillok}
      - {name: tmp, mountPath: /tmp}
volumes:
  - name: secrets
    secret: {secretName: {{ include "sillok.secretName" $root }}, defaultMode: 0400}
  - name: files
    persistentVolumeClaim: {claimName: {{ $root.Values.files.existingClaim | default (printf "%s-files" (include "sillok.fullname" $root)) }}}
  - name: tmp
    emptyDir: {sizeLimit: 2Gi}
{{- end -}}

{{- define "sillok.httpProbes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 60
{{- end -}}
