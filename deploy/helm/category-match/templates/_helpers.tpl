{{/* Names ------------------------------------------------------------------------- */}}

{{- define "catmatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name; also the InferenceService name, so keep it short (the predictor's Knative
service is <fullname>-predictor). */}}
{{- define "catmatch.fullname" -}}
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

{{- define "catmatch.workerName" -}}
{{- printf "%s-worker" (include "catmatch.fullname" .) }}
{{- end }}

{{- define "catmatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "catmatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "catmatch.workerServiceAccountName" -}}
{{- if .Values.worker.serviceAccountName }}
{{- .Values.worker.serviceAccountName }}
{{- else if .Values.serviceAccount.create }}
{{- printf "%s-worker" (include "catmatch.fullname" .) }}
{{- else }}
{{- include "catmatch.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/* Argo CD sync waves ------------------------------------------------------------ */}}

{{/* The sync-wave annotation of a stage. Argo CD applies a wave only after every object of
the earlier waves is healthy, so an object goes no earlier than what it refers to:
  config     -2  ServiceAccounts, ConfigMaps, Secrets, the claim, TriggerAuthentication,
                 NetworkPolicies and Istio policies (deny first, before any pod exists)
  topics     -1  the Strimzi KafkaTopics
  predictor   0  the InferenceService
  workers     1  the worker Deployment/StatefulSet
  dependents  2  what points at the workers or the predictor: the ScaledObject (KEDA marks
                 it not ready, Argo CD Degraded, while its target is missing), PDBs, the
                 metrics Service, monitors, alerts, the dashboard
tests/unit/test_manifests.py checks the order for every reference between rendered objects.
Arg: the stage name. */}}
{{- define "catmatch.syncWave" -}}
{{- $waves := dict "config" "-2" "topics" "-1" "predictor" "0" "workers" "1" "dependents" "2" -}}
{{- if not (hasKey $waves .) -}}
{{- fail (printf "catmatch.syncWave: unknown stage %q" .) -}}
{{- end -}}
argocd.argoproj.io/sync-wave: {{ get $waves . | quote }}
{{- end }}

{{/* A pre-sync hook: Argo CD runs it in its PreSync phase, Helm before install and upgrade;
both delete the previous one first. Before the sync proper, so a hook may refer only to
other hooks of a lower weight (the same number is its sync wave inside the PreSync phase)
and to what exists before the release (Secrets made by hand). Arg: the weight. */}}
{{- define "catmatch.preSyncHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation
argocd.argoproj.io/hook: PreSync
argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
argocd.argoproj.io/sync-wave: {{ . | quote }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------ */}}

{{- define "catmatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catmatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The release, under a key Argo CD leaves alone. With label tracking (Argo CD 2.x's
default) Argo CD sets app.kubernetes.io/instance on every object it applies to the
Application's name, so a selector on that label matches nothing once synced; pods keep
theirs (Argo CD does not touch pod templates), so workload selectors may use it. */}}
{{- define "catmatch.releaseLabel" -}}
category-match/release: {{ .Release.Name }}
{{- end }}

{{/* What the monitors select: labels Argo CD does not rewrite (name, component and the
release label). Arg: dict "root" <root context> "component" worker|predictor. */}}
{{- define "catmatch.monitorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "catmatch.name" .root }}
app.kubernetes.io/component: {{ .component }}
{{ include "catmatch.releaseLabel" .root }}
{{- end }}

{{- define "catmatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "catmatch.selectorLabels" . }}
{{ include "catmatch.releaseLabel" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: category-match
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "catmatch.workerSelectorLabels" -}}
{{ include "catmatch.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{/* Images ------------------------------------------------------------------------ */}}

{{/* The tag of an image: its own tag, else image.tag, else the chart's appVersion.
Args: dict "image" <component image values> "root" <root context>. */}}
{{- define "catmatch.imageTag" -}}
{{- $img := .image | default dict }}
{{- default (default .root.Chart.AppVersion .root.Values.image.tag) $img.tag | toString }}
{{- end }}

{{/* Full image reference; a digest wins over the tag. */}}
{{- define "catmatch.image" -}}
{{- $img := .image }}
{{- $repo := $img.repository }}
{{- if .root.Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $img.repository }}
{{- end }}
{{- if $img.digest }}
{{- printf "%s@%s" $repo $img.digest }}
{{- else }}
{{- printf "%s:%s" $repo (include "catmatch.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Pipeline numbers -------------------------------------------------------------- */}}

{{- define "catmatch.partitions" -}}
{{- int .Values.topics.partitions }}
{{- end }}

{{- define "catmatch.workerReplicas" -}}
{{- if kindIs "invalid" .Values.worker.replicas }}
{{- include "catmatch.partitions" . }}
{{- else }}
{{- int .Values.worker.replicas }}
{{- end }}
{{- end }}

{{- define "catmatch.kedaMaxReplicas" -}}
{{- if kindIs "invalid" .Values.keda.maxReplicas }}
{{- include "catmatch.partitions" . }}
{{- else }}
{{- int .Values.keda.maxReplicas }}
{{- end }}
{{- end }}

{{/* URL the workers call, by default the name KServe gives the predictor in either mode:
<fullname>-predictor. Knative mode: the Knative Service's cluster-local route (through the
activator while the predictor is at zero). Standard mode: the ClusterIP Service KServe
creates beside the raw Deployment, port 80 to the container's 8080 (KServe v0.20
service_reconciler.go: CommonDefaultHttpPort to the first container port). */}}
{{- define "catmatch.predictorUrl" -}}
{{- if .Values.predictorClient.url }}
{{- .Values.predictorClient.url }}
{{- else if eq (include "catmatch.predictorMode" .) "Standard" }}
{{- printf "http://%s.%s.svc.cluster.local:80" (include "catmatch.predictorName" .) .Release.Namespace }}
{{- else }}
{{- printf "http://%s.%s.svc.cluster.local" (include "catmatch.predictorName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Predictor mode ---------------------------------------------------------------- */}}

{{/* KServe's mode as it normalises the annotation (v0.16 and v0.20 ParseDeploymentMode):
Knative (alias Serverless) or Standard (alias RawDeployment). */}}
{{- define "catmatch.predictorMode" -}}
{{- ternary "Standard" "Knative" (has .Values.predictor.deploymentMode (list "Standard" "RawDeployment")) }}
{{- end }}

{{/* What KServe names the predictor's Knative Service, or in Standard mode its Deployment
and Service: <InferenceService name>-predictor (constants.PredictorServiceName). */}}
{{- define "catmatch.predictorName" -}}
{{- printf "%s-predictor" (include "catmatch.fullname" .) }}
{{- end }}

{{/* "true" when KEDA scales the predictor: Standard mode with predictor.keda.enabled. */}}
{{- define "catmatch.predictorKeda" -}}
{{- and .Values.predictor.enabled .Values.predictor.keda.enabled (eq (include "catmatch.predictorMode" .) "Standard") | toString }}
{{- end }}

{{/* "true" when some ScaledObject reads the input topic's lag: the workers' or the
predictor's. Both use the workers' consumer group and credentials. */}}
{{- define "catmatch.kedaLag" -}}
{{- or (and .Values.worker.enabled .Values.keda.enabled) (eq (include "catmatch.predictorKeda" .) "true") | toString }}
{{- end }}

{{/* The kafka trigger's connection metadata (bootstrap servers, SASL mode, TLS), shared by
both ScaledObjects. KEDA v2.21 kafka_scaler.go: sasl none|plaintext|scram_sha256|
scram_sha512|oauthbearer|gssapi, tls enable|disable. */}}
{{- define "catmatch.kedaKafkaMetadata" -}}
{{- $k := .Values.kafka -}}
bootstrapServers: {{ $k.bootstrapServers | quote }}
consumerGroup: {{ .Values.worker.groupId | quote }}
topic: {{ .Values.topics.input | quote }}
{{- if $k.sasl.mechanism }}
{{- $modes := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" "OAUTHBEARER" "oauthbearer" }}
sasl: {{ get $modes $k.sasl.mechanism | quote }}
{{- end }}
{{- if or (eq $k.securityProtocol "SSL") (eq $k.securityProtocol "SASL_SSL") }}
tls: enable
{{- end }}
{{- end }}

{{/* "true" when the trigger needs a TriggerAuthentication (SASL or a CA). */}}
{{- define "catmatch.kedaAuth" -}}
{{- or .Values.kafka.sasl.mechanism .Values.kafka.tls.caSecret | empty | not | toString }}
{{- end }}

{{- define "catmatch.tokenizerPath" -}}
{{- if .Values.worker.tokenizerConfigMap.name }}
{{- printf "/etc/catmatch/tokenizer/%s" .Values.worker.tokenizerConfigMap.key }}
{{- else }}
{{- .Values.worker.tokenizerPath }}
{{- end }}
{{- end }}

{{/* Model store ------------------------------------------------------------------- */}}

{{/* Where the store root is in the predictor and worker containers. KServe mounts a
pvc:// storage URI at /mnt/models; the workers use the same path. */}}
{{- define "catmatch.storeMountPath" -}}
/mnt/models
{{- end }}

{{/* Model name in the store: model.storeName, else derived from the runtime. */}}
{{- define "catmatch.storeName" -}}
{{- if .Values.model.storeName }}
{{- .Values.model.storeName }}
{{- else if eq .Values.model.runtime "sklearn" }}
{{- "category-match-tfidf" }}
{{- else }}
{{- "category-match" }}
{{- end }}
{{- end }}

{{- define "catmatch.modelStoreClaim" -}}
{{- if .Values.modelStore.existingClaim }}
{{- .Values.modelStore.existingClaim }}
{{- else }}
{{- printf "%s-model-store" (include "catmatch.fullname" .) }}
{{- end }}
{{- end }}

{{/* The predictor's KServe storage URI: the claim, plus the store's folder in it. */}}
{{- define "catmatch.storageUri" -}}
{{- $uri := printf "pvc://%s" (include "catmatch.modelStoreClaim" .) }}
{{- with .Values.modelStore.subPath }}
{{- $uri = printf "%s/%s" $uri . }}
{{- end }}
{{- $uri }}
{{- end }}

{{/* Predictor metrics ------------------------------------------------------------- */}}

{{/* The port the predictor PodMonitor scrapes: KServe's aggregated endpoint (9088, the
queue-proxy's and the model server's metrics together; needs the qpext queue-proxy) with
predictor.metricAggregation, else the model server's own /metrics on 8080. */}}
{{- define "catmatch.predictorMetricsPort" -}}
{{- ternary 9088 8080 .Values.predictor.metricAggregation }}
{{- end }}

{{/* Predictor ports that take plain text (space-separated): in Knative mode 9090, where
Knative's autoscaler scrapes the queue-proxy, and 9091, the queue-proxy's metrics for
Prometheus (Standard mode has no queue-proxy); 9088 with KServe's aggregation; the
PodMonitor's port. The mesh makes them PERMISSIVE and the
NetworkPolicy lets Prometheus reach them. */}}
{{- define "catmatch.predictorPlaintextPorts" -}}
{{- $ports := list }}
{{- if eq (include "catmatch.predictorMode" .) "Knative" }}
{{- $ports = list 9090 9091 }}
{{- end }}
{{- if .Values.predictor.metricAggregation }}
{{- $ports = append $ports 9088 }}
{{- end }}
{{- if .Values.metrics.predictorPodMonitor.enabled }}
{{- $ports = append $ports (int (include "catmatch.predictorMetricsPort" .)) }}
{{- end }}
{{- $ports | uniq | join " " }}
{{- end }}

{{/* GPU scheduling ---------------------------------------------------------------- */}}

{{/* The predictor's nodeSelector: predictor.gpu.nodeSelector (with gpu.enabled) under
predictor.nodeSelector. */}}
{{- define "catmatch.predictorNodeSelector" -}}
{{- $p := .Values.predictor }}
{{- $sel := dict }}
{{- if $p.gpu.enabled }}
{{- $sel = deepCopy ($p.gpu.nodeSelector | default dict) }}
{{- end }}
{{- toYaml (mergeOverwrite $sel (deepCopy ($p.nodeSelector | default dict))) }}
{{- end }}

{{/* The predictor's tolerations as {tolerations: [...]}: predictor.tolerations, then
predictor.gpu.tolerations (with gpu.enabled) that are not among them. */}}
{{- define "catmatch.predictorTolerations" -}}
{{- $p := .Values.predictor }}
{{- $all := $p.tolerations | default list }}
{{- if $p.gpu.enabled }}
{{- range ($p.gpu.tolerations | default list) }}
{{- if not (has . $all) }}
{{- $all = append $all . }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (dict "tolerations" $all) }}
{{- end }}

{{/* Node label prefixes that only a daemon on a running node sets (GPU feature discovery,
node feature discovery): an autoscaler cannot match them on a pool scaled to zero. */}}
{{- define "catmatch.runtimeNodeLabelPrefixes" -}}
nvidia.com/ feature.node.kubernetes.io/
{{- end }}

{{/* Predictor tokens ------------------------------------------------------------ */}}

{{/* The Secret whose keys the predictor accepts as bearer tokens: predictor.tokenSecret,
else the one the workers send (predictorClient.tokenSecret); empty = no token check. */}}
{{- define "catmatch.predictorTokenSecret" -}}
{{- .Values.predictor.tokenSecret | default .Values.predictorClient.tokenSecret }}
{{- end }}

{{/* Where the predictor's token Secret is mounted (serve.token_file: a folder, each key one
accepted token). */}}
{{- define "catmatch.predictorTokenDir" -}}
/etc/catmatch/predictor-tokens
{{- end }}

{{/* Where the workers' token Secret is mounted, and the file of the token they send
(predictor.token_file): predictorClient.tokenKey, projected as `token`. */}}
{{- define "catmatch.workerTokenDir" -}}
/etc/catmatch/predictor-token
{{- end }}

{{- define "catmatch.workerTokenFile" -}}
{{- printf "%s/token" (include "catmatch.workerTokenDir" .) }}
{{- end }}

{{- define "catmatch.kafkaCaPath" -}}
/etc/catmatch/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}

{{/* The catmatch settings file (core/settings.py tree) the workers load. Values the
chart derives win over .Values.settings. */}}
{{- define "core.settings" -}}
{{- $v := .Values }}
{{- $kafka := dict "bootstrap_servers" $v.kafka.bootstrapServers "security_protocol" $v.kafka.securityProtocol "client_id" $v.kafka.clientId }}
{{- if $v.kafka.sasl.mechanism }}
{{- $_ := set $kafka "sasl_mechanism" $v.kafka.sasl.mechanism }}
{{- if and $v.kafka.sasl.username (not $v.kafka.sasl.usernameKey) }}
{{- $_ := set $kafka "sasl_username" $v.kafka.sasl.username }}
{{- end }}
{{- end }}
{{- if $v.kafka.tls.caSecret }}
{{- $_ := set $kafka "config" (dict "ssl.ca.location" (include "catmatch.kafkaCaPath" .)) }}
{{- end }}
{{- $topics := dict "input" $v.topics.input "output" $v.topics.output "dead_letter" $v.topics.deadLetter "partitions" (int $v.topics.partitions) "replication_factor" (int $v.topics.replicationFactor) }}
{{- $predictor := dict "url" (include "catmatch.predictorUrl" .) "model_name" $v.predictor.modelName }}
{{- if $v.predictorClient.hostHeader }}
{{- $_ := set $predictor "host_header" $v.predictorClient.hostHeader }}
{{- end }}
{{- $worker := dict "workers" 1 "group_id" $v.worker.groupId "tokenizer_path" (include "catmatch.tokenizerPath" .) "metrics_host" "0.0.0.0" "metrics_port" (int $v.worker.metricsPort) "static_membership" (eq $v.worker.kind "StatefulSet") }}
{{- $derived := dict "kafka" $kafka "topics" $topics "predictor" $predictor "worker" $worker }}
{{- toYaml (mergeOverwrite (deepCopy ($v.settings | default dict)) $derived) }}
{{- end }}

{{/*
CATMATCH_CACHE__REDIS_URL from resultCache.redisSecret (nothing when it is empty): the
shared tier of the result cache, for the workers and the predictor alike.
*/}}
{{- define "catmatch.redisUrlEnv" -}}
{{- with .Values.resultCache.redisSecret }}
- name: CATMATCH_CACHE__REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.resultCache.redisKey }}
{{- end }}
{{- end }}

{{/*
A NetworkPolicy egress rule to the shared Redis (nothing without resultCache.redisSecret).
*/}}
{{- define "catmatch.redisEgress" -}}
{{- $r := .Values.resultCache }}
{{- if $r.redisSecret }}
# The result cache's shared Redis (resultCache.egress).
- to:
    {{- if $r.egress.cidrs }}
    {{- range $r.egress.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- else }}
    - namespaceSelector:
        matchLabels:
          {{- toYaml $r.egress.namespaceSelector | nindent 10 }}
      {{- with $r.egress.podSelector }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
    {{- end }}
  ports:
    - {port: {{ int $r.egress.port }}, protocol: TCP}
{{- end }}
{{- end }}
