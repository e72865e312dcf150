{{/* Namespace of every object: namespace.name, else the release namespace. */}}
{{- define "tritter.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name -}}
{{- end -}}

{{- define "tritter.fullname" -}}
{{- if contains "tritter" .Release.Name -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-tritter" .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tritter.labels" -}}
app.kubernetes.io/name: tritter
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tritter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tritter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the S3 keys: the one this chart creates (createSecret wins, so turning it
     on with keys is enough), or the existing one. */}}
{{- define "tritter.s3Secret" -}}
{{- if .Values.storage.createSecret -}}
{{- printf "%s-s3" (include "tritter.fullname" .) -}}
{{- else if .Values.storage.existingSecret -}}
{{- .Values.storage.existingSecret -}}
{{- else -}}
{{- fail "storage: set existingSecret to a Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or createSecret: true with accessKeyId and secretAccessKey" -}}
{{- end -}}
{{- end -}}

{{- define "tritter.image" -}}
{{- printf "%s/tritter-%s:%s" (trimSuffix "/" .root.Values.image.registry) .stage (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/* Pod and container security settings shared by the chart's pods. */}}
{{- define "tritter.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tritter.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* One container of the upload hook: `tritter pipeline upload` of one shipped pipeline.
     Takes a dict: root (the chart's context), container (its name), pipeline (pretrain or
     posttrain), name (in KFP) and defaults (parameter name → default value). */}}
{{- define "tritter.uploadContainer" -}}
{{- $root := .root -}}
- name: {{ .container }}
  image: {{ include "tritter.image" (dict "root" $root "stage" "data") }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: [tritter, pipeline, upload]
  args:
    - --host={{ $root.Values.pipeline.apiHost }}
    - --package=/pipeline/tritter_{{ .pipeline }}.yaml
    - --name={{ .name }}
    - --registry={{ $root.Values.image.registry }}
    - --sizing=/pipeline/sizing.yaml
    {{- with $root.Values.pipeline.kfpNamespace }}
    - --namespace={{ . }}
    {{- end }}
    {{- /* every step's pod and the training pods pull with the same Secrets */}}
    {{- range $root.Values.image.pullSecrets }}
    - --pull-secret={{ . }}
    {{- end }}
    {{- range $name, $value := .defaults }}
    {{- /* toJson keeps large numbers out of Go's 1e+06 float notation */}}
    - --set={{ $name }}={{ if kindIs "string" $value }}{{ $value }}{{ else }}{{ $value | toJson }}{{ end }}
    {{- end }}
  env:
    - name: TRITTER_LOG_FORMAT
      value: json
    - name: HOME
      value: /tmp
    # Multi-user Kubeflow accepts this projected token (audience pipelines.kubeflow.org).
    - name: KF_PIPELINES_SA_TOKEN_PATH
      value: /var/run/secrets/kubeflow/pipelines/token
  resources:
    {{- toYaml $root.Values.pipeline.hook.resources | nindent 4 }}
  securityContext:
    {{- include "tritter.containerSecurityContext" $root | nindent 4 }}
  volumeMounts:
    - name: pipeline
      mountPath: /pipeline
      readOnly: true
    - name: kfp-token
      mountPath: /var/run/secrets/kubeflow/pipelines
      readOnly: true
    - name: tmp
      mountPath: /tmp
{{- end -}}
